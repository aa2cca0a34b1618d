"""Probability that an experiment succeeds, learnt from failed trials.

Choice of model: a `SingleTaskGP` (same recipe as `fit_gp`) regressed on the 0/1
feasibility label, with

    P(feasible | x) = P(f(x) > 1/2) = Phi((mu(x) - 1/2) / sigma(x)),

where `mu`, `sigma` are the posterior mean and standard deviation of the latent
label function `f` (observation noise excluded). This is the probability of
feasibility that BoTorch's analytic constrained acquisitions use for an outcome
constraint `f(x) >= 1/2` (`LogConstrainedExpectedImprovement`), so the optimizer
can add `log_prob` to a log-acquisition value. Compared with a variational GP
classifier (Bernoulli likelihood, hundreds of Adam steps) it is fitted by a few
dozen L-BFGS steps of an exact GP, is deterministic, and has no variational
approximation to go wrong on tiny data; the price is a probability that is a
smooth score rather than a calibrated classifier output: near dense, cleanly
separated data it is close to 0 or 1, and far from all data it tends to
`Phi((base_rate - 1/2) / prior_std)`.

With no failures there is nothing to learn: `fit_feasibility` returns
`FeasibilityModel.constant(1.0)`. With only failures it returns a constant with the
smoothed success rate `0.5 / (n + 1)`, and says so in `warnings`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from surrogates.exceptions import InputDataError, InputShapeError
from surrogates.fit import fit_gp, prepare_inputs
from surrogates.models import (
    GPSurrogate,
    marginal_posterior,
    resolve_device,
    resolve_dtype,
)

__all__ = ["FeasibilityModel", "fit_feasibility"]

_THRESHOLD = 0.5  # the label function is "feasible" above this
_MIN_VARIANCE = 1e-12  # floor on the posterior variance, keeps log_prob finite


@dataclasses.dataclass(frozen=True, eq=False)
class FeasibilityModel:
    """Probability of feasibility as a differentiable function of unit-cube inputs.

    Made by `fit_feasibility` or `FeasibilityModel.constant`.

    Attributes:
        surrogate: The GP on the 0/1 label, or None for a constant model.
        constant_prob: The probability everywhere, for a constant model; else None.
        n: Number of trials the model was learnt from.
        n_failed: Number of those that failed.
        warnings: Non-fatal issues met while fitting.
    """

    surrogate: GPSurrogate | None
    constant_prob: float | None
    n: int
    n_failed: int
    warnings: tuple[str, ...] = ()

    @classmethod
    def constant(
        cls, p: float = 1.0, *, n: int = 0, n_failed: int = 0
    ) -> FeasibilityModel:
        """A model with the same probability of feasibility everywhere.

        Args:
            p: The probability, in `(0, 1]`.
            n: Number of trials it stands for.
            n_failed: Number of failed trials it stands for.

        Returns:
            The constant `FeasibilityModel`.

        Raises:
            InputDataError: If `p` is not in `(0, 1]`.
        """
        if not 0.0 < p <= 1.0:
            msg = f"A constant probability of feasibility must be in (0, 1]. Got {p=}."
            raise InputDataError(msg)
        return cls(surrogate=None, constant_prob=float(p), n=n, n_failed=n_failed)

    @property
    def is_constant(self) -> bool:
        """Whether the probability is the same everywhere."""
        return self.surrogate is None

    def log_prob(self, X: Tensor) -> Tensor:
        """Log-probability of feasibility, differentiable in `X`.

        Args:
            X: A `... x d` tensor of unit-cube inputs.

        Returns:
            A tensor of shape `...` on `X`'s dtype and device.

        Raises:
            InputShapeError: If the last dimension of `X` is not `d`.
        """
        if self.surrogate is None:
            assert self.constant_prob is not None  # set by `constant`; for mypy
            # `X[..., 0] * 0` keeps the result on `X`'s graph, dtype and device
            constant: Tensor = X[..., 0] * 0.0 + math.log(self.constant_prob)
            return constant
        log_p: Tensor = torch.special.log_ndtr(self._z_score(X))
        return log_p

    def prob(self, X: Tensor) -> Tensor:
        """Probability of feasibility, differentiable in `X`.

        Args:
            X: A `... x d` tensor of unit-cube inputs.

        Returns:
            A tensor of shape `...` with values in `[0, 1]`.
        """
        return self.log_prob(X).exp()

    def _z_score(self, X: Tensor) -> Tensor:
        """`(mu(X) - 1/2) / sigma(X)` of the label GP, shape `...`."""
        assert self.surrogate is not None  # only called for a fitted model
        sur = self.surrogate
        d = sur.train_X.shape[-1]
        if X.dim() == 0 or X.shape[-1] != d:
            msg = (
                f"X must be a `... x d` tensor with d={d}. Got shape {tuple(X.shape)}."
            )
            raise InputShapeError(msg)
        Xm = X.to(dtype=sur.dtype, device=sur.device)
        mean, variance = marginal_posterior(sur.model.models[0], Xm)
        z = (mean - _THRESHOLD) / variance.clamp_min(_MIN_VARIANCE).sqrt()
        return z.to(dtype=X.dtype, device=X.device)


def fit_feasibility(
    train_X: Tensor | np.ndarray | Sequence[Any],
    feasible: Tensor | np.ndarray | Sequence[bool],
    *,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    maxiter: int = 100,
    num_threads: int | None = 1,
) -> FeasibilityModel:
    """Learn the probability of feasibility from succeeded and failed trials.

    Args:
        train_X: A `n x d` tensor or array of unit-cube inputs of all trials.
        feasible: A `n`-dim bool vector: True if the trial produced a result,
            False if it failed (failed build, short circuit, ...).
        seed: Seed for a retried fit; see `fit_gp`.
        device: `"cpu"`, `"cuda"` or a `torch.device`.
        dtype: `torch.float64` (recommended) or `torch.float32`.
        maxiter: Maximum L-BFGS-B iterations of the label GP (fewer than for
            `fit_gp` by default: its hyperparameters matter less, speed more).
        num_threads: Torch intra-op CPU threads while fitting; see `fit_gp`.

    Returns:
        The `FeasibilityModel`; a constant one when all trials agree.

    Raises:
        InputShapeError: If `feasible` is not a vector with one entry per row.
        InputDataError: If `feasible` is not boolean (or 0/1).
        DeviceUnavailableError: If CUDA is asked for but not available.
        FitError: If the label GP cannot be fitted.

    Example:
        >>> import torch
        >>> X = torch.linspace(0, 1, 12, dtype=torch.float64).unsqueeze(-1)
        >>> model = fit_feasibility(X, X[:, 0] < 0.7, seed=0, maxiter=50)
        >>> model.n_failed
        4
        >>> bool(model.prob(torch.tensor([[0.1]], dtype=torch.float64)) > 0.5)
        True
    """
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    labels = _as_labels(feasible)
    inputs = prepare_inputs(
        train_X, labels.to(dt).unsqueeze(-1), ["feasible"], device=dev, dtype=dt
    )
    n, n_failed = labels.shape[0], int((~labels).sum())
    if n_failed == 0:
        return FeasibilityModel.constant(1.0, n=n, n_failed=0)
    if n_failed == n:
        p = 0.5 / (n + 1)
        note = (
            f"All {n} trials failed; the probability of feasibility is the constant "
            f"{p:.3g} (smoothed success rate), nothing is learnt about where."
        )
        return dataclasses.replace(
            FeasibilityModel.constant(p, n=n, n_failed=n), warnings=(note,)
        )
    sur = fit_gp(
        inputs.train_X,
        inputs.train_Y,
        outcome_names=inputs.outcome_names,
        device=dev,
        dtype=dt,
        seed=seed,
        maxiter=maxiter,
        num_threads=num_threads,
    )
    return FeasibilityModel(
        surrogate=sur, constant_prob=None, n=n, n_failed=n_failed, warnings=sur.warnings
    )


def _as_labels(feasible: Tensor | np.ndarray | Sequence[bool]) -> Tensor:
    """Return `feasible` as a 1-d bool CPU tensor, checked."""
    array = (
        feasible.detach().cpu().numpy() if isinstance(feasible, Tensor) else feasible
    )
    labels = np.asarray(array)
    if labels.ndim != 1:
        msg = f"feasible must be a 1-d vector of bools. Got shape {labels.shape}."
        raise InputShapeError(msg)
    if labels.dtype != np.bool_ and not np.isin(labels, (0, 1)).all():
        msg = f"feasible must hold bools (or 0/1). Got dtype {labels.dtype}."
        raise InputDataError(msg)
    return torch.as_tensor(labels.astype(bool))
