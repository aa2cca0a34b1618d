"""Fitted GP surrogates: the immutable `GPSurrogate` and the recipe for its models.

One `SingleTaskGP` per outcome, joined in a `ModelListGP`, so that each outcome is
fitted on its own measured rows (an outcome left unmeasured on a row is NaN there).
Each GP has

- a `Normalize` input transform from the given bounds (the identity on the unit cube),
- a `Standardize(m=1)` outcome transform, so `model.posterior` is in natural units,
- a Matérn-5/2 ARD kernel with BoTorch's dimension-scaled LogNormal lengthscale prior
  [Hvarfner2024vanilla]_ (`get_covar_module_with_dim_scaled_prior(...,
  use_rbf_kernel=False)`; BoTorch's own default is the RBF variant of it),
- a Gaussian likelihood with BoTorch's default LogNormal noise prior, or a fixed-noise
  likelihood where the caller gives known measurement variances,
- a prior mean: BoTorch's constant, or a quadratic trend in each input
  (`surrogates.means.QuadraticMean`, universal kriging), plus, where the caller
  gives one, the lab's expectation of the outcome (`surrogates.means.PriorMean`).

.. [Hvarfner2024vanilla] C. Hvarfner, E. O. Hellsten, L. Nardi. Vanilla Bayesian
   Optimization Performs Great in High Dimensions. ICML 2024.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import pickle
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.models.gp_regression import SingleTaskGP
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import (
    get_covar_module_with_dim_scaled_prior,
)
from torch import Tensor

from surrogates.diagnostics import LOOPredictions, LOOResult, loo_cv, loo_predictions
from surrogates.exceptions import (
    DeviceUnavailableError,
    InputDataError,
    InputShapeError,
    NotEnoughDataError,
    SurrogateError,
)
from surrogates.means import MEAN_FUNCTIONS, PriorModel, make_mean

__all__ = [
    "FORMAT_VERSION",
    "GPSurrogate",
    "OutcomeData",
    "build_joint_model",
    "build_model_list",
    "capture_warnings",
    "copy_joint_to_list",
    "copy_list_to_joint",
    "marginal_posterior",
    "resolve_device",
    "resolve_dtype",
    "split_outcomes",
    "to_tensor",
]

FORMAT_VERSION = 1
"""Version of the dict written by `GPSurrogate.save`; bump on incompatible change."""

_FORMAT_NAME = "surrogates.GPSurrogate"
_SUPPORTED_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_MIN_OBSERVED_ROWS = 2
_CONSTANT_RTOL = 1e-9  # an outcome whose std is below this x max(1, |mean|)
_NON_FATAL_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn a device option into a `torch.device`, checking that it exists.

    Args:
        device: `"cpu"`, `"cuda"`, `"cuda:<index>"` or a `torch.device`.

    Returns:
        The `torch.device`.

    Raises:
        InputDataError: If the device is neither CPU nor CUDA.
        DeviceUnavailableError: If CUDA is asked for but not available.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        msg = f"device must be 'cpu' or 'cuda'. Got {device=}."
        raise InputDataError(msg) from exc
    if resolved.type not in ("cpu", "cuda"):
        msg = f"device must be 'cpu' or 'cuda'. Got {device=}."
        raise InputDataError(msg)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        msg = (
            f"device={str(device)!r} was asked for but no CUDA device is "
            "available; use device='cpu'."
        )
        raise DeviceUnavailableError(msg)
    return resolved


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """Check a dtype option: `torch.float64` (recommended) or `torch.float32`.

    Args:
        dtype: A torch floating dtype or its name (`"float64"`, `"float32"`).

    Returns:
        The `torch.dtype`.

    Raises:
        InputDataError: For any other dtype.
    """
    name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    if name not in _SUPPORTED_DTYPES:
        msg = f"dtype must be torch.float64 or torch.float32. Got {dtype=}."
        raise InputDataError(msg)
    return _SUPPORTED_DTYPES[name]


def to_tensor(
    value: Tensor | np.ndarray | Sequence[Any],
    *,
    name: str,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """Convert array-like data to a tensor with the given dtype and device.

    Autograd history is kept when `value` is already a tensor.

    Args:
        value: A tensor, numpy array or nested sequence of numbers.
        name: The argument's name, for error messages.
        dtype: Target dtype.
        device: Target device.

    Returns:
        The tensor.

    Raises:
        InputDataError: If `value` cannot be read as numbers.
    """
    if isinstance(value, Tensor):
        return value.to(dtype=dtype, device=device)
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64)).to(
            dtype=dtype, device=device
        )
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be a tensor or array of numbers. Got {type(value)!r}."
        raise InputDataError(msg) from exc


@contextlib.contextmanager
def capture_warnings() -> Iterator[list[str]]:
    """Record warnings raised inside the block as strings instead of showing them.

    Deprecation and future warnings are not ours to report: they are re-issued, so
    the caller's warning filters still see them.

    Yields:
        A list that receives `"<Category>: <message>"` strings, without duplicates,
        when the block ends (also when it raises).
    """
    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield notes
    finally:  # fill `notes` even when the block raises, to explain the failure
        for w in caught:
            if issubclass(w.category, _NON_FATAL_CATEGORIES):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                continue
            note = f"{w.category.__name__}: {w.message}"
            if note not in notes:
                notes.append(note)


@dataclasses.dataclass(frozen=True)
class OutcomeData:
    """The rows one outcome's GP is trained on.

    Attributes:
        name: The outcome's name.
        X: A `k x d` tensor of inputs, the rows where the outcome was measured.
        Y: A `k x 1` tensor of the measured values, natural units.
        Yvar: A `k x 1` tensor of known noise variances, or None to infer the noise.
    """

    name: str
    X: Tensor
    Y: Tensor
    Yvar: Tensor | None


def split_outcomes(
    train_X: Tensor,
    train_Y: Tensor,
    train_Yvar: Tensor | None,
    outcome_names: Sequence[str],
) -> tuple[list[OutcomeData], list[str]]:
    """Split validated training data into one `OutcomeData` per outcome.

    Args:
        train_X: A `n x d` tensor of inputs.
        train_Y: A `n x m` tensor of outcomes; NaN where not measured.
        train_Yvar: An optional `n x m` tensor of known noise variances; NaN allowed.
        outcome_names: The `m` outcome names.

    Returns:
        The per-outcome data, and notes on what was done with awkward data.

    Raises:
        NotEnoughDataError: If an outcome has fewer than 2 measured rows.
    """
    parts: list[OutcomeData] = []
    notes: list[str] = []
    for j, name in enumerate(outcome_names):
        rows = ~torch.isnan(train_Y[:, j])
        n_rows = int(rows.sum())
        if n_rows < _MIN_OBSERVED_ROWS:
            msg = (
                f"Outcome {name!r} has {n_rows} measured rows (non-NaN) but a GP "
                f"needs at least {_MIN_OBSERVED_ROWS}. Measure it more, or leave "
                "it out of outcome_names."
            )
            raise NotEnoughDataError(msg)
        Y = train_Y[rows, j : j + 1]
        Yvar = None if train_Yvar is None else train_Yvar[rows, j : j + 1]
        Yvar = _complete_yvar(name, Yvar, notes)
        _note_if_constant(name, Y, notes)
        parts.append(OutcomeData(name=name, X=train_X[rows], Y=Y, Yvar=Yvar))
    return parts, notes


def _complete_yvar(name: str, Yvar: Tensor | None, notes: list[str]) -> Tensor | None:
    """Decide how an outcome's noise is modelled from its known variances.

    All known: fixed noise. None known: inferred noise. Some known: the gaps are
    filled with the median of the known ones, and a note says so.
    """
    if Yvar is None:
        return None
    known = ~torch.isnan(Yvar)
    if not bool(known.any()):
        return None
    if bool(known.all()):
        return Yvar
    fill = Yvar[known].median()
    notes.append(
        f"Outcome {name!r}: {int((~known).sum())} of {Yvar.shape[0]} measured rows "
        f"have no noise variance; used the median of the others ({float(fill):.4g})."
    )
    return torch.where(known, Yvar, fill)


def _note_if_constant(name: str, Y: Tensor, notes: list[str]) -> None:
    """Add a note when an outcome has (numerically) the same value on every row."""
    Y64 = Y.double()
    mean = float(Y64.mean())
    if float(Y64.std()) <= _CONSTANT_RTOL * max(1.0, abs(mean)):
        notes.append(
            f"Outcome {name!r} is constant ({mean:.6g} on all {Y.shape[0]} rows); "
            "its GP predicts that constant and carries no information for search."
        )


def marginal_posterior(gp: Any, X: Tensor) -> tuple[Tensor, Tensor]:
    """Pointwise posterior mean and variance of one GP, without joint covariances.

    Each point is evaluated as its own batch (`... x 1 x d`), so memory and time
    grow linearly with the number of points, not quadratically.

    Args:
        gp: A fitted single-output BoTorch GP (e.g. `SingleTaskGP`).
        X: A `... x d` tensor of inputs.

    Returns:
        Mean and variance, each of shape `...`, natural units, observation noise
        excluded. Differentiable in `X` unless called under `torch.no_grad`.
    """
    posterior = gp.posterior(X.unsqueeze(-2))  # batch `...`, one point each
    mean: Tensor = posterior.mean.reshape(X.shape[:-1])
    variance: Tensor = posterior.variance.reshape(X.shape[:-1])
    return mean, variance


def build_outcome_gp(
    data: OutcomeData,
    bounds: Tensor,
    mean: str = "constant",
    prior: PriorModel | None = None,
) -> SingleTaskGP:
    """Build (not fit) the GP of one outcome.

    Args:
        data: The outcome's rows.
        bounds: A `2 x d` tensor of input bounds for `Normalize`.
        mean: ``"constant"`` or ``"quadratic"`` prior mean.
        prior: The lab's expectation; added to the mean when it covers the outcome.

    Returns:
        An unfitted `SingleTaskGP` on the dtype and device of `data.X`.
    """
    d = data.X.shape[-1]
    return SingleTaskGP(
        train_X=data.X,
        train_Y=data.Y,
        train_Yvar=data.Yvar,
        covar_module=get_covar_module_with_dim_scaled_prior(
            ard_num_dims=d, use_rbf_kernel=False
        ),
        mean_module=_mean_module(
            mean, data.X, data.Y, d, prior=prior, names=[data.name], bounds=bounds
        ),
        outcome_transform=Standardize(m=1),
        input_transform=Normalize(d=d, bounds=bounds),
    )


def build_model_list(
    parts: Sequence[OutcomeData],
    bounds: Tensor,
    mean: str = "constant",
    prior: PriorModel | None = None,
) -> ModelListGP:
    """Build (not fit) the `ModelListGP` with one GP per outcome.

    Args:
        parts: The per-outcome data, in outcome order.
        bounds: A `2 x d` tensor of input bounds.
        mean: ``"constant"`` or ``"quadratic"`` prior mean.
        prior: The lab's expectation of some outcomes (every GP then has a
            `PriorMean`, with no expectation for the others).

    Returns:
        The unfitted `ModelListGP`.
    """
    return ModelListGP(*(build_outcome_gp(part, bounds, mean, prior) for part in parts))


def _mean_module(
    mean: str,
    X: Tensor,
    Y: Tensor,
    d: int,
    batch_shape: torch.Size = torch.Size(),  # noqa: B008
    *,
    prior: PriorModel | None = None,
    names: Sequence[str] = (),
    bounds: Tensor | None = None,
) -> Any:
    columns = [
        prior.outcomes.index(n) if prior is not None and n in prior.outcomes else -1
        for n in names
    ]
    module = make_mean(
        mean,
        d,
        batch_shape,
        prior=prior,
        columns=columns,
        train_X=X,
        train_Y=Y,
        bounds=bounds,
    )
    return None if module is None else module.to(X)


def build_joint_model(
    parts: Sequence[OutcomeData],
    bounds: Tensor,
    mean: str = "constant",
    prior: PriorModel | None = None,
) -> SingleTaskGP | None:
    """Build (not fit) one batched GP of all outcomes, where that is possible.

    Possible when every outcome was measured on the same rows and the noise of all
    outcomes is inferred, or known for all. The batched `SingleTaskGP` has one
    independent GP per outcome (batch shape `m`) with the same recipe as
    `build_outcome_gp`; BoTorch evaluates it in one batched call instead of `m`,
    which halves the cost of a posterior and of a marginal-likelihood step.

    Args:
        parts: The per-outcome data, in outcome order.
        bounds: A `2 x d` tensor of input bounds for `Normalize`.
        mean: ``"constant"`` or ``"quadratic"`` prior mean.
        prior: The lab's expectation of some outcomes.

    Returns:
        The unfitted batched GP, or None.
    """
    first = parts[0]
    if len(parts) < 2 or any(
        part.X.shape != first.X.shape or not torch.equal(part.X, first.X)
        for part in parts
    ):
        return None
    known = [part.Yvar is not None for part in parts]
    if any(known) and not all(known):
        return None
    d, m = first.X.shape[-1], len(parts)
    Yvar = torch.cat([part.Yvar for part in parts], dim=-1) if all(known) else None  # type: ignore[misc]  # all known here
    return SingleTaskGP(
        train_X=first.X,
        train_Y=torch.cat([part.Y for part in parts], dim=-1),
        train_Yvar=Yvar,
        covar_module=get_covar_module_with_dim_scaled_prior(
            ard_num_dims=d, use_rbf_kernel=False, batch_shape=torch.Size([m])
        ),
        mean_module=_mean_module(
            mean,
            first.X,
            torch.cat([part.Y for part in parts], dim=-1),
            d,
            torch.Size([m]),
            prior=prior,
            names=[part.name for part in parts],
            bounds=bounds,
        ),
        outcome_transform=Standardize(m=m),
        input_transform=Normalize(d=d, bounds=bounds),
    )


def copy_joint_to_list(joint: SingleTaskGP, model: ModelListGP) -> None:
    """Copy the batched GP's hyperparameters into the per-outcome GPs (in place)."""
    with torch.no_grad():
        for batched, own in _paired_parameters(joint, model):
            own.copy_(batched.reshape(own.shape))


def copy_list_to_joint(model: ModelListGP, joint: SingleTaskGP) -> None:
    """Copy the per-outcome GPs' hyperparameters into the batched GP (in place)."""
    with torch.no_grad():
        for batched, own in _paired_parameters(joint, model):
            batched.copy_(own.reshape(batched.shape))


def _paired_parameters(
    joint: SingleTaskGP, model: ModelListGP
) -> Iterator[tuple[Tensor, Tensor]]:
    """(slice ``i`` of a batched parameter, outcome ``i``'s own parameter) pairs."""
    for i, gp in enumerate(model.models):
        own = dict(gp.named_parameters())
        for key, param in joint.named_parameters():
            yield param[i], own[key]


@dataclasses.dataclass(frozen=True, eq=False)
class GPSurrogate:
    """A fitted GP surrogate of `m` outcomes; immutable, so it is never unfitted.

    Made by `surrogates.fit_gp`. A refit makes a new object. `model` can be handed
    to BoTorch acquisition functions directly; its posterior is in natural units
    and differentiable in the inputs, while the fitted hyperparameters are frozen
    (`requires_grad=False`), so no gradient flows into them.

    Attributes:
        model: The fitted `ModelListGP`, one `SingleTaskGP` per outcome, eval mode.
        outcome_names: The `m` outcome names, in column order.
        train_X: The `n x d` training inputs.
        train_Y: The `n x m` training outcomes, natural units, NaN = not measured.
        train_Yvar: The `n x m` known noise variances, or None.
        bounds: The `2 x d` input bounds used by `Normalize`.
        fit_seconds: Wall-clock seconds the fit took.
        warnings: Non-fatal issues met while fitting (constant outcome, retries, ...).
        mean: The GPs' prior mean, ``"constant"`` or ``"quadratic"``.
        prior: The lab's expectation added to the mean of the outcomes it covers,
            or None.

    Example:
        >>> import torch
        >>> from surrogates import fit_gp
        >>> X = torch.linspace(0, 1, 8, dtype=torch.float64).unsqueeze(-1)
        >>> sur = fit_gp(X, torch.sin(6 * X), outcome_names=["y"], maxiter=50)
        >>> mean, std = sur.predict(torch.tensor([[0.5]], dtype=torch.float64))
        >>> mean.shape, std.shape
        (torch.Size([1, 1]), torch.Size([1, 1]))
    """

    model: ModelListGP
    outcome_names: tuple[str, ...]
    train_X: Tensor
    train_Y: Tensor
    train_Yvar: Tensor | None
    bounds: Tensor
    fit_seconds: float
    warnings: tuple[str, ...] = ()
    mean: str = "constant"
    prior: PriorModel | None = None

    @property
    def device(self) -> torch.device:
        """The device the model lives on."""
        return self.train_X.device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the model."""
        return self.train_X.dtype

    @property
    def n_outcomes(self) -> int:
        """The number of outcomes `m`."""
        return len(self.outcome_names)

    @functools.cached_property
    def joint_model(self) -> SingleTaskGP | None:
        """The same fitted GPs as one batched `SingleTaskGP`, or None.

        Equal predictions to `model`, about twice as fast to evaluate, so
        acquisition functions should use it when it exists: when every outcome
        has the same measured rows and one kind of noise (see
        `build_joint_model`). Frozen and in eval mode, like `model`.
        """
        with capture_warnings():  # recorded when the surrogate was fitted
            parts, _ = split_outcomes(
                self.train_X, self.train_Y, self.train_Yvar, self.outcome_names
            )
            joint = build_joint_model(parts, self.bounds, self.mean, self.prior)
        if joint is None:
            return None
        copy_list_to_joint(self.model, joint)
        joint.eval().requires_grad_(False)
        return joint

    def predict(self, X: Tensor | np.ndarray | Sequence[Any]) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation of every outcome at `X`.

        Args:
            X: A `q x d` tensor or array of inputs in the training input space.

        Returns:
            Two `q x m` tensors, mean and standard deviation, in natural units,
            observation noise excluded.

        Raises:
            InputShapeError: If `X` is not `q x d` with the training `d`.
            InputDataError: If `X` has NaN or infinite values.
        """
        X = to_tensor(X, name="X", dtype=self.dtype, device=self.device)
        d = self.train_X.shape[-1]
        if X.dim() != 2 or X.shape[-1] != d:
            msg = f"X must be a `q x d` tensor with d={d}. Got shape {tuple(X.shape)}."
            raise InputShapeError(msg)
        if not bool(torch.isfinite(X).all()):
            raise InputDataError("X must be finite. Got NaN or infinite values.")
        with torch.no_grad():
            moments = [marginal_posterior(gp, X) for gp in self._gps()]
        mean = torch.stack([m for m, _ in moments], dim=-1)
        std = torch.stack([v.clamp_min(0.0).sqrt() for _, v in moments], dim=-1)
        return mean, std

    def loo_predictions(self) -> dict[str, LOOPredictions]:
        """Per-point leave-one-out predictions, e.g. for a calibration plot.

        See `surrogates.diagnostics.loo_predictions`.

        Returns:
            `{outcome name: LOOPredictions}`.
        """
        return loo_predictions(self.model, self.outcome_names)

    def lengthscales(self) -> dict[str, list[float]]:
        """Fitted ARD lengthscales per outcome, one per input, in normalised units.

        With the default bounds these are in units of the unit cube.

        Returns:
            `{outcome name: [d lengthscales]}`.
        """
        return {
            name: gp.covar_module.lengthscale.detach().reshape(-1).tolist()
            for name, gp in zip(self.outcome_names, self._gps(), strict=True)
        }

    def prior_weights(self) -> dict[str, float]:
        """The fitted weight of the lab's expectation, per outcome it covers.

        About 1: the data agree with the expectation's shape; about 0: the data
        ignore it; negative: they say the opposite.

        Returns:
            `{outcome name: weight}` (empty without a prior).
        """
        if self.prior is None:
            return {}
        return {
            name: float(gp.mean_module.weight.detach().reshape(-1)[0])
            for name, gp in zip(self.outcome_names, self._gps(), strict=True)
            if name in self.prior.outcomes
        }

    def noise(self) -> dict[str, float]:
        """Noise standard deviation per outcome, in natural units.

        For an outcome with known (fixed) noise this is the root-mean-square of the
        given standard deviations.

        Returns:
            `{outcome name: noise std}`.
        """
        result = {}
        for name, gp in zip(self.outcome_names, self._gps(), strict=True):
            noise_var = gp.likelihood.noise.detach().mean()
            scale = gp.outcome_transform.stdvs.detach().reshape(())
            result[name] = float(noise_var.sqrt() * scale)
        return result

    def _gps(self) -> list[Any]:
        """The per-outcome GPs (`Any`: torch types their submodules loosely)."""
        return list(self.model.models)

    def loo_cv(self) -> dict[str, LOOResult]:
        """Exact leave-one-out cross-validation with the fitted hyperparameters.

        See `surrogates.diagnostics.loo_cv`.

        Returns:
            `{outcome name: LOOResult}`.
        """
        return loo_cv(self.model, self.outcome_names)

    def to(self, device: str | torch.device) -> GPSurrogate:
        """Return a copy on another device, without refitting.

        Args:
            device: `"cpu"`, `"cuda"` or a `torch.device`.

        Returns:
            The new `GPSurrogate`.
        """
        return GPSurrogate.from_payload(self.to_payload(), device=device)

    def to_payload(self) -> dict[str, Any]:
        """The plain dict `save` writes: CPU tensors, names and state dicts.

        Returns:
            The dict, loadable with `torch.load(..., weights_only=True)`.
        """
        return {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "outcome_names": list(self.outcome_names),
            "dtype": str(self.dtype).removeprefix("torch."),
            "train_X": _moved(self.train_X),
            "train_Y": _moved(self.train_Y),
            "train_Yvar": _moved(self.train_Yvar),
            "bounds": _moved(self.bounds),
            "state_dicts": [_cpu_state(sub) for sub in self.model.models],
            "fit_seconds": self.fit_seconds,
            "warnings": list(self.warnings),
            "mean": self.mean,
            "prior": None
            if self.prior is None
            else {"name": self.prior.name, "outcomes": list(self.prior.outcomes)},
        }

    @classmethod
    def from_payload(
        cls,
        payload: dict[str, Any],
        *,
        device: str | torch.device = "cpu",
        prior: PriorModel | None = None,
    ) -> GPSurrogate:
        """Rebuild a surrogate from `to_payload`'s dict, without refitting.

        Args:
            payload: The dict.
            device: Where to put the rebuilt model.
            prior: The expectation it was fitted with (functions are not saved):
                required when it had one, refused when it had none.

        Returns:
            The `GPSurrogate`, giving the same predictions as the one saved.

        Raises:
            SurrogateError: If the dict is not a surrogate of a known format version.
        """
        _check_payload(payload)
        _check_prior(payload.get("prior"), prior)
        dev, dtype = resolve_device(device), resolve_dtype(payload["dtype"])
        tensors: dict[str, Any] = {
            key: _moved(payload[key], dtype=dtype, device=dev)
            for key in ("train_X", "train_Y", "train_Yvar", "bounds")
        }
        names = tuple(payload["outcome_names"])
        with capture_warnings():  # already recorded when it was fitted
            parts, _ = split_outcomes(
                tensors["train_X"], tensors["train_Y"], tensors["train_Yvar"], names
            )
            mean = payload.get("mean", "constant")  # older files: constant
            model = build_model_list(parts, tensors["bounds"], mean, prior)
        try:
            for gp, state in zip(model.models, payload["state_dicts"], strict=True):
                gp.load_state_dict(state)
        except (RuntimeError, ValueError) as exc:
            msg = f"Saved GPSurrogate does not match its rebuilt models: {exc}"
            raise SurrogateError(msg) from exc
        model.eval().requires_grad_(False)
        return cls(
            model=model,
            outcome_names=names,
            train_X=tensors["train_X"],
            train_Y=tensors["train_Y"],
            train_Yvar=tensors["train_Yvar"],
            bounds=tensors["bounds"],
            fit_seconds=float(payload["fit_seconds"]),
            warnings=tuple(payload["warnings"]),
            mean=mean,
            prior=prior,
        )

    def save(self, path: str | Path) -> None:
        """Write the surrogate to a file with `torch.save` (a plain dict).

        Args:
            path: The file to write.
        """
        torch.save(self.to_payload(), Path(path))

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str | torch.device = "cpu",
        prior: PriorModel | None = None,
    ) -> GPSurrogate:
        """Read a surrogate written by `save`, without refitting.

        Args:
            path: The file to read.
            device: Where to put the model.
            prior: The expectation it was fitted with, if any (see `from_payload`).

        Returns:
            The `GPSurrogate`.

        Raises:
            SurrogateError: If the file is not a saved surrogate.
        """
        try:
            payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            msg = f"Could not read a saved GPSurrogate from {str(path)!r}: {exc}"
            raise SurrogateError(msg) from exc
        return cls.from_payload(payload, device=device, prior=prior)


def _moved(
    tensor: Tensor | None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> Tensor | None:
    """`tensor` detached and moved (by default to the CPU); None stays None."""
    if tensor is None:
        return None
    return tensor.detach().to(dtype=dtype, device=device or torch.device("cpu"))


def _cpu_state(module: torch.nn.Module) -> dict[str, Tensor]:
    """A module's state dict with every tensor moved to the CPU."""
    return {key: value.detach().cpu() for key, value in module.state_dict().items()}


def _check_prior(saved: Any, prior: PriorModel | None) -> None:
    """Raise `SurrogateError` unless ``prior`` matches the saved one (or both none)."""
    if saved is None and prior is None:
        return
    if saved is None:
        msg = "Saved GPSurrogate was fitted without a prior; load it without prior=."
        raise SurrogateError(msg)
    outcomes = list(saved.get("outcomes", []))
    if prior is None:
        msg = (
            f"Saved GPSurrogate was fitted with the prior {saved.get('name')!r} of "
            f"{outcomes}; pass that PriorModel as prior= to load it."
        )
        raise SurrogateError(msg)
    if list(prior.outcomes) != outcomes:
        msg = (
            f"Saved GPSurrogate's prior covers {outcomes}; the prior given covers "
            f"{list(prior.outcomes)}."
        )
        raise SurrogateError(msg)


def _check_payload(payload: Any) -> None:
    """Raise `SurrogateError` unless `payload` is a saved surrogate we can read."""
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT_NAME:
        msg = f"Not a saved GPSurrogate: expected a dict with format={_FORMAT_NAME!r}."
        raise SurrogateError(msg)
    if payload.get("mean", "constant") not in MEAN_FUNCTIONS:
        msg = f"Saved GPSurrogate has an unknown prior mean {payload['mean']!r}."
        raise SurrogateError(msg)
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        msg = (
            f"Saved GPSurrogate has format_version={version!r}; this version of "
            f"surrogates reads format_version={FORMAT_VERSION}. Refit the model."
        )
        raise SurrogateError(msg)
