"""Prior mean functions of the outcome GPs.

`QuadraticMean` is the trend of universal kriging with a second-order response
surface: the GP models what a quadratic in each input leaves unexplained. Fitted
on standardised outcomes over the unit cube, its coefficients have zero-mean
normal priors, so with few measurements it shrinks to the usual constant mean.

Why: a campaign looks for an optimum, where the outcome peaks. A constant-mean GP
fitted on noisy data pulls the peak towards the average of the data (it
under-predicts the best cells); a quadratic trend follows the peak. Measured with
`make bench-ceiling` and in replays of the simulated cell (see the CHANGELOG).

`PriorModel` and `PriorMean` add what the lab expects before measuring: a function
of the settings (a mass balance, a back-of-envelope model) whose standardised
prediction, times a fitted weight, is added to that trend. The GP then models how
the cells differ from the expectation. The weight (prior normal, mean 1) lets the
data scale the expectation down, or flip it, where it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gpytorch.means import ConstantMean, Mean
from gpytorch.priors import NormalPrior
from torch import Tensor
from typing_extensions import override

from surrogates.exceptions import InputDataError

__all__ = [
    "MEAN_FUNCTIONS",
    "PriorMean",
    "PriorModel",
    "QuadraticMean",
    "check_mean",
    "make_mean",
]

MEAN_FUNCTIONS = ("constant", "quadratic")

LINEAR_PRIOR_SD = 1.0  # standardised outcome per unit of the unit cube
PRIOR_WEIGHT_SD = 0.5  # the expectation's weight: normal prior, mean 1
_FD_STEP = 1e-4  # finite-difference step, share of each input's range
QUADRATIC_PRIOR_SD = 4.0  # (x - 0.5)^2 is at most 0.25: the same scale as above


class QuadraticMean(Mean):  # type: ignore[misc]  # gpytorch ships no type hints
    """``c + sum_i b_i (x_i - 1/2) + sum_i a_i (x_i - 1/2)^2`` (no cross terms).

    `2 d + 1` coefficients, so it stays identifiable with a few times `d`
    measurements; a full quadratic would need `(d + 1)(d + 2) / 2`.

    Args:
        d: Input dimension (inputs normalised to the unit cube).
        batch_shape: Batch shape of the GP (one mean per outcome of a batched GP).
    """

    def __init__(self, d: int, batch_shape: torch.Size = torch.Size()) -> None:  # noqa: B008  # torch's own default
        super().__init__()
        self.batch_shape = batch_shape
        self.register_parameter(
            "constant", torch.nn.Parameter(torch.zeros(*batch_shape, 1))
        )
        self.register_parameter(
            "linear", torch.nn.Parameter(torch.zeros(*batch_shape, d, 1))
        )
        self.register_parameter(
            "quadratic", torch.nn.Parameter(torch.zeros(*batch_shape, d, 1))
        )
        self.register_prior("linear_prior", NormalPrior(0.0, LINEAR_PRIOR_SD), "linear")
        self.register_prior(
            "quadratic_prior", NormalPrior(0.0, QUADRATIC_PRIOR_SD), "quadratic"
        )

    def forward(self, x: Tensor) -> Tensor:
        """`... x n x d` -> `... x n`."""
        centred = x - 0.5
        linear = (centred @ self.linear).squeeze(-1)
        quadratic = (centred.square() @ self.quadratic).squeeze(-1)
        value: Tensor = self.constant + linear + quadratic
        return value


@dataclass(frozen=True, eq=False)
class PriorModel:
    """What the lab expects of some outcomes before measuring them.

    Attributes:
        function: Maps an `N x d` array of inputs, in the space of `fit_gp`'s
            ``train_X`` (within its ``bounds``), to an `N x k` array of expected
            outcomes in natural units. Vectorised and deterministic; numpy is fine,
            gradients are taken by finite differences.
        outcomes: The `k` outcome names of its columns (a subset of the fitted
            outcomes).
        name: What it is (e.g. its import path); saved with the surrogate.
    """

    function: Callable[[np.ndarray], np.ndarray]
    outcomes: tuple[str, ...]
    name: str = "prior"

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The expected outcomes at `X` (`N x d`), checked: `N x k`, finite.

        Raises:
            InputDataError: The function returned another shape, or a value that
                is not a finite number.
        """
        out = np.asarray(self.function(X), dtype=float)
        k = len(self.outcomes)
        if out.ndim == 1 and k == 1:
            out = out[:, None]
        if out.shape != (X.shape[0], k):
            msg = (
                f"Prior {self.name!r} returned shape {out.shape} for {X.shape[0]} "
                f"inputs; expected ({X.shape[0]}, {k}), one column per outcome "
                f"{list(self.outcomes)}."
            )
            raise InputDataError(msg)
        if not np.isfinite(out).all():
            bad = [
                n
                for j, n in enumerate(self.outcomes)
                if not np.isfinite(out[:, j]).all()
            ]
            msg = (
                f"Prior {self.name!r} returned a value that is not a finite number "
                f"for {bad}; it must give a number for every input within bounds."
            )
            raise InputDataError(msg)
        return out


class _Expected(torch.autograd.Function):
    """A `PriorModel` as a torch function; the gradient by central differences."""

    @override
    @staticmethod
    def forward(ctx: Any, X: Tensor, prior: PriorModel, step: Tensor) -> Tensor:
        ctx.prior = prior
        ctx.save_for_backward(X, step)
        flat = X.detach().reshape(-1, X.shape[-1]).cpu().numpy()
        out = torch.as_tensor(prior(flat), dtype=X.dtype, device=X.device)
        return out.reshape(*X.shape[:-1], out.shape[-1])

    @override
    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None]:
        X, step = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        flat = X.detach().reshape(-1, X.shape[-1]).cpu().numpy()
        g = grad.detach().reshape(flat.shape[0], -1).cpu().numpy()
        h = step.detach().cpu().numpy()
        jac = np.empty_like(flat)
        for i in range(flat.shape[1]):
            up, down = flat.copy(), flat.copy()
            up[:, i] += h[i]
            down[:, i] -= h[i]
            slope = (ctx.prior(up) - ctx.prior(down)) / (2.0 * h[i])
            jac[:, i] = (slope * g).sum(-1)
        dX = torch.as_tensor(jac, dtype=X.dtype, device=X.device).reshape(X.shape)
        return dX, None, None


class PriorMean(Mean):  # type: ignore[misc]  # gpytorch ships no type hints
    """``base(x) + w * (prior_j(x) - centre_j) / scale_j`` for outcome ``j``.

    The base is the usual trend (`QuadraticMean` or a constant); ``prior_j`` is
    the `PriorModel`'s column for this GP's outcome (none: the base alone),
    centred on its mean over the training inputs and divided by the spread the
    GP standardises the outcome's measurements by, so the weight ``w`` is 1 when
    the cells follow the expectation in natural units (see `make_mean`).

    Args:
        prior: The lab's expectation.
        columns: Per outcome of the (batched) GP, the prior column or -1 for none;
            one entry for an unbatched GP.
        bounds: The `2 x d` input bounds of the GP's `Normalize` transform (the
            mean sees normalised inputs; the prior, the caller's).
        centre: Per prior column, its mean over the training inputs.
        scale: Per prior column, its standard deviation there (> 0).
        base: The trend it adds to.
        batch_shape: The GP's batch shape (`m` outcomes of a batched GP).
    """

    def __init__(
        self,
        prior: PriorModel,
        columns: Sequence[int],
        *,
        bounds: Tensor,
        centre: Tensor,
        scale: Tensor,
        base: Mean,
        batch_shape: torch.Size = torch.Size(),  # noqa: B008  # torch's own default
    ) -> None:
        super().__init__()
        self.prior = prior
        self.batch_shape = batch_shape
        self.base = base
        k = len(prior.outcomes)
        index = torch.tensor([c if c >= 0 else k for c in columns], dtype=torch.long)
        self.register_buffer("index", index)
        self.register_buffer("used", torch.tensor([float(c >= 0) for c in columns]))
        self.register_buffer("lower", bounds[0].clone())
        self.register_buffer("span", (bounds[1] - bounds[0]).clone())
        self.register_buffer("centre", centre.clone())
        self.register_buffer("scale", scale.clone())
        self.register_parameter(
            "weight", torch.nn.Parameter(torch.ones(*batch_shape, 1))
        )
        self.register_prior("weight_prior", NormalPrior(1.0, PRIOR_WEIGHT_SD), "weight")

    def expected(self, x: Tensor) -> Tensor:
        """The standardised expectation at normalised `x`: `... x n x (k + 1)`.

        The last column is zero (for outcomes without an expectation).
        """
        raw = self.lower + x * self.span
        out: Tensor = _Expected.apply(raw, self.prior, _FD_STEP * self.span)  # type: ignore[no-untyped-call]  # torch's apply is untyped
        z = (out - self.centre) / self.scale
        return torch.cat([z, torch.zeros_like(z[..., :1])], dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """`... x n x d` -> `... x n` (batched: `... x m x n x d` -> `... x m x n`)."""
        z = self.expected(x)
        w = self.weight.squeeze(-1) * self.used
        if not self.batch_shape:
            value: Tensor = self.base(x) + w * z[..., self.index[0]]
            return value
        picked = z[..., self.index]  # ... x B x n x m, B = m or 1
        if x.dim() >= 3 and x.shape[-3] == len(self.index) and x.shape[-3] > 1:
            expected = torch.diagonal(picked, dim1=-3, dim2=-1)  # ... x n x m
        else:
            expected = picked.squeeze(-3) if x.dim() >= 3 else picked
        value = self.base(x) + w.unsqueeze(-1) * expected.transpose(-1, -2)
        return value


def check_mean(mean: object) -> str:
    """Return ``mean`` if it names a known mean function, else raise ValueError."""
    if mean not in MEAN_FUNCTIONS:
        known = ", ".join(map(repr, MEAN_FUNCTIONS))
        raise ValueError(f"mean={mean!r} is not known; choose one of {known}.")
    return str(mean)


def make_mean(
    mean: str,
    d: int,
    batch_shape: torch.Size = torch.Size(),  # noqa: B008  # torch's own default
    *,
    prior: PriorModel | None = None,
    columns: Sequence[int] = (),
    train_X: Tensor | None = None,
    train_Y: Tensor | None = None,
    bounds: Tensor | None = None,
) -> Mean | None:
    """The mean module for ``mean`` (None: BoTorch's default constant mean).

    With a ``prior``, a `PriorMean` on that trend: ``columns`` gives each outcome's
    prior column (-1: none). Each column is centred on its mean over ``train_X``
    (within ``bounds``) and divided by the spread of its outcome's measurements
    (``train_Y``, `n x len(columns)`, natural units): the GP standardises its
    outcome by that spread, so a weight of 1 is the expectation in natural units.

    Why not the expectation's own spread over the measured settings: where the
    measurements sit where the expectation is flat (a campaign that has only
    measured cells above the plating cliff), that spread is about zero, the
    standardised cliff becomes hundreds of standard deviations deep, and a
    weight the data cannot pin down flips it into cells predicted at 120 %
    retention.
    """
    base = QuadraticMean(d, batch_shape) if check_mean(mean) == "quadratic" else None
    if prior is None:
        return base
    if train_X is None or train_Y is None or bounds is None:
        raise ValueError("make_mean: a prior needs train_X, train_Y and bounds.")
    if base is None:
        base = ConstantMean(batch_shape=batch_shape)
    flat = train_X.detach().reshape(-1, train_X.shape[-1]).cpu().numpy()
    values = torch.as_tensor(prior(flat), dtype=train_X.dtype)
    centre = values.mean(0)
    scale = torch.ones_like(centre)
    Y = train_Y.detach().reshape(-1, train_Y.shape[-1]).cpu().to(train_X.dtype)
    for j, column in enumerate(columns):
        if column >= 0:
            scale[column] = _spread(Y[:, j])
    module = PriorMean(
        prior,
        columns,
        bounds=bounds.cpu(),
        centre=centre,
        scale=scale,
        base=base,
        batch_shape=batch_shape,
    )
    return module.to(train_X)


def _spread(y: Tensor) -> Tensor:
    """The standard deviation `Standardize` divides an outcome by (1 when flat)."""
    y = y[torch.isfinite(y)]
    if y.numel() < 2:
        return torch.ones((), dtype=y.dtype)
    sd = y.std()
    return sd if sd >= 1e-8 else torch.ones_like(sd)
