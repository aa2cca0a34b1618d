"""Fit GP surrogates to training data: `fit_gp`.

Inputs are validated eagerly, before any fit. Each outcome's GP is fitted on its own
measured rows by maximising the marginal likelihood with `fit_gpytorch_mll` (bounded
L-BFGS-B). A fit that raises or stops abnormally is retried once from
hyperparameters drawn from their priors; a second failure is a `FitError`.
Awkward-but-usable data (a constant outcome, partly known noise, float32 precision)
never stop the fit: what happened is recorded in `GPSurrogate.warnings`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models.gp_regression import SingleTaskGP
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.optim.utils import sample_all_priors
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from torch import Tensor

from surrogates.exceptions import FitError, InputDataError, InputShapeError
from surrogates.means import PriorModel, check_mean
from surrogates.models import (
    GPSurrogate,
    build_joint_model,
    build_model_list,
    capture_warnings,
    copy_joint_to_list,
    copy_list_to_joint,
    resolve_device,
    resolve_dtype,
    split_outcomes,
    to_tensor,
)

__all__ = ["FitInputs", "check_within_bounds", "fit_gp", "prepare_inputs"]

ArrayLike = Tensor | np.ndarray | Sequence[Any]
_BOUNDS_RTOL = 1e-6  # inputs may exceed their bounds by this share of the range


@dataclasses.dataclass(frozen=True, eq=False)
class FitInputs:
    """Validated training data on the target dtype and device.

    Attributes:
        train_X: A `n x d` tensor of inputs within `bounds`.
        train_Y: A `n x m` tensor of outcomes, NaN = not measured.
        train_Yvar: A `n x m` tensor of known noise variances (NaN = unknown), or
            None.
        bounds: A `2 x d` tensor of input bounds.
        outcome_names: The `m` outcome names.
    """

    train_X: Tensor
    train_Y: Tensor
    train_Yvar: Tensor | None
    bounds: Tensor
    outcome_names: tuple[str, ...]


def fit_gp(
    train_X: ArrayLike,
    train_Y: ArrayLike,
    *,
    outcome_names: Sequence[str],
    train_Yvar: ArrayLike | None = None,
    bounds: ArrayLike | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    seed: int | None = None,
    maxiter: int = 200,
    warm_start: GPSurrogate | None = None,
    num_threads: int | None = 1,
    mean: str = "constant",
    prior: PriorModel | None = None,
    noise_share: float | None = None,
) -> GPSurrogate:
    """Fit one Matérn-5/2 GP per outcome and return them as a `GPSurrogate`.

    Args:
        train_X: A `n x d` tensor or array of inputs, already encoded to the unit
            cube (or lying within `bounds`).
        train_Y: A `n x m` tensor or array of outcomes in natural units. NaN means
            not measured; each outcome is fitted on its own non-NaN rows.
        outcome_names: The `m` outcome names, unique, in column order.
        train_Yvar: An optional `n x m` tensor or array of known measurement noise
            variances (natural units squared). Where an outcome has them, they are
            used as fixed noise; NaN means unknown (an outcome with none known gets
            inferred noise; gaps are filled with the median of the known ones).
        bounds: An optional `2 x d` tensor of input bounds, for BoTorch's
            `Normalize`; default the unit cube.
        device: `"cpu"`, `"cuda"` or a `torch.device`.
        dtype: `torch.float64` (recommended) or `torch.float32`.
        seed: Seeds the re-initialisation of a failed fit; None for torch's global
            random state. The global state is left untouched when a seed is given.
        maxiter: Maximum L-BFGS-B iterations per fit attempt.
        warm_start: A previous surrogate (e.g. of the last round) whose fitted
            hyperparameters start the optimisation of the outcomes of the same name
            and input dimension; usually fewer iterations. None starts from the
            prior modes.
        num_threads: Torch intra-op CPU threads while fitting, restored afterwards.
            One thread is as fast as several for campaign-sized data (n of a few
            hundred) and far faster when CPUs are shared (parallel replay seeds,
            a busy lab server), where spinning thread pools oversubscribe them.
            None leaves torch's setting alone.
        mean: The prior mean of every GP: ``"constant"`` (BoTorch's default) or
            ``"quadratic"``, a trend quadratic in each input whose coefficients are
            fitted with the hyperparameters (`surrogates.means.QuadraticMean`).
        prior: What the lab expects of some outcomes (`surrogates.PriorModel`):
            each covered outcome's mean adds the expectation (centred over the
            training inputs, in the outcome's standardised units) times a fitted
            weight, 1 being the expectation as given; the GP models the rest.
            None (the default) uses ``mean`` alone.
        noise_share: The prior median of each inferred measurement noise, as a
            share of the outcome's standard deviation over the training rows (a
            log-normal prior on the standardised noise variance, median
            ``noise_share**2``, log-sd 1; the fit starts there). None keeps
            BoTorch's prior, median about 0.14, made for nearly noise-free
            functions: on lab data whose scatter is a large share of the spread
            it makes the GP fit the scatter as signal. Outcomes with known noise
            (``train_Yvar``) are not affected.

    Returns:
        The fitted `GPSurrogate`; its `warnings` list non-fatal issues.

    Raises:
        InputShapeError: If shapes disagree, or inputs lie outside the bounds.
        InputDataError: If values are NaN/infinite where not allowed, or an option
            is invalid.
        NotEnoughDataError: If an outcome has fewer than 2 measured rows.
        DeviceUnavailableError: If CUDA is asked for but not available.
        FitError: If an outcome's GP cannot be fitted, even after a retry.

    Example:
        >>> import torch
        >>> X = torch.rand(10, 2, dtype=torch.float64)
        >>> Y = torch.stack([X.sum(-1), X[:, 0] - X[:, 1]], dim=-1)
        >>> sur = fit_gp(X, Y, outcome_names=["a", "b"], seed=0, maxiter=50)
        >>> sur.predict(X[:3])[0].shape
        torch.Size([3, 2])
    """
    start = time.perf_counter()
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    _check_positive_int("maxiter", maxiter)
    try:
        check_mean(mean)
    except ValueError as exc:
        raise InputDataError(f"fit_gp: {exc}") from None
    if num_threads is not None:
        _check_positive_int("num_threads", num_threads)
    _check_noise_share(noise_share)
    inputs = prepare_inputs(
        train_X, train_Y, outcome_names, train_Yvar, bounds, device=dev, dtype=dt
    )
    if prior is not None:
        _check_prior(prior, inputs)
    with _seeded(seed, dev), _torch_threads(num_threads):
        parts, notes = split_outcomes(
            inputs.train_X, inputs.train_Y, inputs.train_Yvar, inputs.outcome_names
        )
        with capture_warnings() as build_notes:
            model = build_model_list(parts, inputs.bounds, mean, prior)
            joint = build_joint_model(parts, inputs.bounds, mean, prior)
        notes += build_notes
        if noise_share is not None:
            for gp in [*model.models, *([] if joint is None else [joint])]:
                _set_noise_prior(gp, noise_share)
        if warm_start is not None:
            _copy_hyperparameters(warm_start, model, inputs.outcome_names)
        if joint is None or not _fit_joint(joint, model, maxiter, notes):
            gps: list[Any] = list(model.models)
            for part, gp in zip(parts, gps, strict=True):
                fit_notes = _fit_one(gp, part.name, maxiter)
                notes += [f"Outcome {part.name!r}: {note}" for note in fit_notes]
    model.eval().requires_grad_(False)  # fitted: hyperparameters are frozen
    return GPSurrogate(
        model=model,
        outcome_names=inputs.outcome_names,
        train_X=inputs.train_X,
        train_Y=inputs.train_Y,
        train_Yvar=inputs.train_Yvar,
        bounds=inputs.bounds,
        fit_seconds=time.perf_counter() - start,
        warnings=tuple(dict.fromkeys(notes)),
        mean=mean,
        prior=prior,
    )


def _fit_joint(
    joint: SingleTaskGP, model: ModelListGP, maxiter: int, notes: list[str]
) -> bool:
    """Fit every outcome at once as one batched GP, then copy into ``model``.

    The outcomes' GPs share no hyperparameter, so the summed marginal likelihood
    has the same optimum as separate fits; one L-BFGS-B run over all of them makes
    a third as many (batched) calls for three outcomes. It starts from ``model``'s
    hyperparameters (a warm start, or the prior modes).

    Returns:
        True when the joint fit worked; False (with a note) when the outcomes must
        be fitted one by one instead.
    """
    copy_list_to_joint(model, joint)
    try:
        notes += _fit_attempt(
            ExactMarginalLogLikelihood(joint.likelihood, joint), maxiter
        )
    except FitError as exc:
        notes.append(f"joint fit of all outcomes failed ({exc}); fitted one by one.")
        return False
    copy_joint_to_list(joint, model)
    return True


def _copy_hyperparameters(
    source: GPSurrogate, model: ModelListGP, outcome_names: Sequence[str]
) -> None:
    """Start `model`'s GPs from the hyperparameters of `source`'s same-named GPs.

    Parameters whose shape differs (another input dimension) are left alone.

    Raises:
        InputDataError: If `source` is not a `GPSurrogate`.
    """
    if not isinstance(source, GPSurrogate):
        msg = f"warm_start must be a GPSurrogate or None. Got {type(source)!r}."
        raise InputDataError(msg)
    previous = dict(zip(source.outcome_names, source.model.models, strict=True))
    for name, gp in zip(outcome_names, model.models, strict=True):
        if name not in previous:
            continue
        old = dict(previous[name].named_parameters())
        with torch.no_grad():
            for key, param in gp.named_parameters():
                if key in old and old[key].shape == param.shape:
                    param.copy_(old[key].to(param))


def _check_prior(prior: Any, inputs: FitInputs) -> None:
    """Raise `InputDataError` unless ``prior`` is a usable `PriorModel`."""
    if not isinstance(prior, PriorModel):
        msg = f"prior must be a surrogates.PriorModel or None. Got {type(prior)!r}."
        raise InputDataError(msg)
    names = list(prior.outcomes)
    unknown = [n for n in names if n not in inputs.outcome_names]
    if not names or unknown or len(set(names)) != len(names):
        msg = (
            f"Prior {prior.name!r} covers {names}; it must name each of some of the "
            f"fitted outcomes {list(inputs.outcome_names)} once."
        )
        raise InputDataError(msg)
    prior(inputs.train_X.detach().cpu().numpy())  # shape and finiteness, named


def _set_noise_prior(gp: SingleTaskGP, share: float) -> None:
    """Put a log-normal prior of median ``share**2`` on ``gp``'s inferred noise.

    The noise is the variance of the standardised outcome, so ``share`` is the
    noise's standard deviation as a share of the outcome's. The noise starts at
    the prior's median. A GP with known (fixed) noise is left alone.
    """
    noise_covar = getattr(gp.likelihood, "noise_covar", None)
    if noise_covar is None or "noise_prior" not in getattr(noise_covar, "_priors", {}):
        return
    _, closure, setting_closure = noise_covar._priors["noise_prior"]
    prior = LogNormalPrior(2.0 * math.log(share), 1.0).to(gp.train_targets)
    noise_covar.register_prior("noise_prior", prior, closure, setting_closure)
    with torch.no_grad():
        noise_covar.noise = torch.full_like(noise_covar.noise, share**2)


def _check_noise_share(value: float | None) -> None:
    """Raise `InputDataError` unless `value` is None or a number in (0, 10]."""
    if value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0.0 < value <= 10.0:
        msg = (
            f"noise_share must be a number in (0, 10] (the noise's standard "
            f"deviation as a share of the outcome's), or None. Got {value!r}."
        )
        raise InputDataError(msg)


def _check_positive_int(name: str, value: int) -> None:
    """Raise `InputDataError` unless `value` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{name} must be a positive integer. Got {name}={value!r}."
        raise InputDataError(msg)


@contextlib.contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Use `num_threads` torch intra-op threads inside the block (None: unchanged)."""
    previous = torch.get_num_threads()
    if num_threads is None or num_threads == previous:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block and restore the global random state after it."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _fit_one(gp: SingleTaskGP, name: str, maxiter: int) -> list[str]:
    """Fit one outcome's GP in place, retrying once from a fresh initialisation.

    Args:
        gp: The unfitted GP.
        name: The outcome's name, for messages.
        maxiter: Maximum L-BFGS-B iterations per attempt.

    Returns:
        Notes on what happened (warnings met, a retry).

    Raises:
        FitError: If both attempts fail; the second failure is chained.
    """
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    try:
        return _fit_attempt(mll, maxiter)
    except Exception as first:  # any failure of the optimiser earns a retry
        first_cause = f"{type(first).__name__}: {first}"
    try:
        with torch.no_grad():
            sample_all_priors(gp)
        notes = _fit_attempt(mll, maxiter)
    except Exception as exc:
        msg = (
            f"Fitting the GP of outcome {name!r} failed twice. First attempt: "
            f"{first_cause}. Retry from a fresh initialisation: "
            f"{type(exc).__name__}: {exc}"
        )
        raise FitError(msg) from exc
    return [f"first fit attempt failed ({first_cause}); a retry succeeded.", *notes]


def _fit_attempt(mll: ExactMarginalLogLikelihood, maxiter: int) -> list[str]:
    """Run one bounded `fit_gpytorch_mll` attempt.

    Args:
        mll: The marginal log likelihood of the GP to fit.
        maxiter: Maximum L-BFGS-B iterations.

    Returns:
        The warnings met, as notes.

    Raises:
        FitError: If the optimiser raised or stopped abnormally; the warnings that
            made BoTorch reject the fit are in the message, the cause is chained.
    """
    failure: Exception | None = None
    with capture_warnings() as notes:
        try:
            fit_gpytorch_mll(
                mll,
                optimizer_kwargs={"options": {"maxiter": maxiter}},
                max_attempts=1,
            )
        except Exception as exc:  # reported with the warnings that explain it
            failure = exc
    if failure is None:
        return notes
    reason = "; ".join(notes) or f"{type(failure).__name__}: {failure}"
    raise FitError(f"the optimiser stopped abnormally ({reason})") from failure


def prepare_inputs(
    train_X: ArrayLike,
    train_Y: ArrayLike,
    outcome_names: Sequence[str],
    train_Yvar: ArrayLike | None = None,
    bounds: ArrayLike | None = None,
    *,
    device: torch.device,
    dtype: torch.dtype,
) -> FitInputs:
    """Validate training data and convert it to tensors; see `fit_gp`'s arguments.

    Args:
        train_X: A `n x d` array of inputs.
        train_Y: A `n x m` array of outcomes, NaN = not measured.
        outcome_names: The `m` outcome names.
        train_Yvar: An optional `n x m` array of known noise variances.
        bounds: An optional `2 x d` array of input bounds; default the unit cube.
        device: Target device.
        dtype: Target dtype.

    Returns:
        The validated `FitInputs`.

    Raises:
        InputShapeError: If shapes disagree, or inputs lie outside the bounds.
        InputDataError: If values are NaN/infinite where not allowed.
    """
    names = _check_names(outcome_names)
    X = _as_matrix(train_X, "train_X", device=device, dtype=dtype)
    if X.shape[1] == 0:
        raise InputShapeError("train_X must have at least one column (d >= 1).")
    Y = _as_matrix(train_Y, "train_Y", device=device, dtype=dtype)
    _check_same_rows(X, Y, "train_Y")
    if Y.shape[1] != len(names):
        msg = (
            f"train_Y has {Y.shape[1]} columns but outcome_names has {len(names)} "
            f"names ({list(names)}); expected one column per outcome name."
        )
        raise InputShapeError(msg)
    _check_values(X, "train_X", allow_nan=False)
    _check_values(Y, "train_Y", allow_nan=True)
    Yvar = None
    if train_Yvar is not None:
        Yvar = _as_matrix(train_Yvar, "train_Yvar", device=device, dtype=dtype)
        _check_yvar(Yvar, Y)
    B = _check_bounds(bounds, X.shape[1], device=device, dtype=dtype)
    check_within_bounds(X, B, name="train_X", is_default=bounds is None)
    return FitInputs(
        train_X=X, train_Y=Y, train_Yvar=Yvar, bounds=B, outcome_names=names
    )


def _check_names(outcome_names: Sequence[str]) -> tuple[str, ...]:
    """Return the names as a tuple; they must be unique non-empty strings."""
    if isinstance(outcome_names, str) or not all(
        isinstance(name, str) and name for name in outcome_names
    ):
        msg = (
            "outcome_names must be a sequence of non-empty strings. "
            f"Got {outcome_names!r}."
        )
        raise InputDataError(msg)
    names = tuple(outcome_names)
    if len(set(names)) != len(names):
        msg = f"outcome_names must be unique. Got {list(names)}."
        raise InputDataError(msg)
    return names


def _as_matrix(
    value: ArrayLike, name: str, *, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Convert to a 2-d tensor, or raise `InputShapeError` naming the remedy."""
    tensor = to_tensor(value, name=name, dtype=dtype, device=device)
    if tensor.dim() != 2:
        msg = (
            f"{name} must be a 2-d `n x k` array. Got shape {tuple(tensor.shape)}. "
            "Reshape a single column with .reshape(-1, 1)."
        )
        raise InputShapeError(msg)
    return tensor


def _check_same_rows(X: Tensor, other: Tensor, name: str) -> None:
    """Raise `InputShapeError` unless `other` has as many rows as `train_X`."""
    if other.shape[0] != X.shape[0]:
        msg = (
            f"train_X and {name} must have the same number of rows. Got "
            f"{X.shape[0]} and {other.shape[0]}."
        )
        raise InputShapeError(msg)


def _check_values(tensor: Tensor, name: str, *, allow_nan: bool) -> None:
    """Raise `InputDataError` on infinite values, and on NaN unless allowed."""
    bad = torch.isinf(tensor) if allow_nan else ~torch.isfinite(tensor)
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        allowed = "NaN (not measured) or finite" if allow_nan else "finite"
        msg = (
            f"{name} must be {allowed}. Got {name}[{row}, {col}]="
            f"{float(tensor[row, col])}."
        )
        raise InputDataError(msg)


def _check_yvar(Yvar: Tensor, Y: Tensor) -> None:
    """Raise unless `Yvar` has `Y`'s shape and holds NaN or finite values >= 0."""
    if Yvar.shape != Y.shape:
        msg = (
            f"train_Yvar must have the shape of train_Y, {tuple(Y.shape)}. Got "
            f"{tuple(Yvar.shape)}."
        )
        raise InputShapeError(msg)
    _check_values(Yvar, "train_Yvar", allow_nan=True)
    if bool((Yvar < 0).any()):
        row, col = (int(i) for i in (Yvar < 0).nonzero()[0])
        msg = (
            "train_Yvar holds noise variances, which must be >= 0 (or NaN). Got "
            f"train_Yvar[{row}, {col}]={float(Yvar[row, col])}."
        )
        raise InputDataError(msg)


def _check_bounds(
    bounds: ArrayLike | None, d: int, *, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Return the `2 x d` bounds (the unit cube by default), checked."""
    if bounds is None:
        return torch.stack(
            [
                torch.zeros(d, dtype=dtype, device=device),
                torch.ones(d, dtype=dtype, device=device),
            ]
        )
    B = _as_matrix(bounds, "bounds", device=device, dtype=dtype)
    if B.shape != (2, d):
        msg = f"bounds must be a `2 x d` array with d={d}. Got shape {tuple(B.shape)}."
        raise InputShapeError(msg)
    _check_values(B, "bounds", allow_nan=False)
    if not bool((B[0] < B[1]).all()):
        msg = f"bounds must have lower < upper in every column. Got {B.tolist()}."
        raise InputDataError(msg)
    return B


def check_within_bounds(
    X: Tensor, bounds: Tensor, *, name: str, is_default: bool = False
) -> None:
    """Raise `InputShapeError` if a value of `X` lies outside `bounds`.

    A tolerance of 1e-6 of each range absorbs rounding from encoding.

    Args:
        X: A `n x d` tensor.
        bounds: A `2 x d` tensor.
        name: The argument's name, for the message.
        is_default: Whether `bounds` is the default unit cube (changes the remedy).

    Raises:
        InputShapeError: If a value lies outside.
    """
    slack = _BOUNDS_RTOL * (bounds[1] - bounds[0])
    outside = (X < bounds[0] - slack) | (X > bounds[1] + slack)
    if not bool(outside.any()):
        return
    row, col = (int(i) for i in outside.nonzero()[0])
    where = "the unit cube [0, 1]^d" if is_default else "bounds"
    remedy = (
        "Encode inputs to the unit cube first, or pass bounds." if is_default else ""
    )
    msg = (
        f"{name} must lie within {where}: expected {name}[:, {col}] in "
        f"[{float(bounds[0, col])}, {float(bounds[1, col])}]. Got {name}[{row}, "
        f"{col}]={float(X[row, col])}. {remedy}"
    )
    raise InputShapeError(msg.strip())
