"""Model diagnostics: exact leave-one-out cross-validation of fitted GPs.

The hyperparameters stay fixed at their fitted values, so leave-one-out needs no
refit: with `K` the noisy training covariance and `y` the centred targets,
Rasmussen & Williams (2006), eq. 5.12, give the predictive distribution of `y_i`
from the other `n - 1` points as

    mu_i = y_i - [K^-1 y]_i / [K^-1]_ii,    var_i = 1 / [K^-1]_ii,

one Cholesky factorisation for all `i`. `var_i` includes the observation noise, so
it describes a new measurement at `x_i`; coverage is checked against it.

Used by `GPSurrogate.loo_cv`; works on any `ModelListGP` of exact GPs with a
`Standardize` outcome transform, as built by `surrogates.fit_gp`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
from botorch.models.gp_regression import SingleTaskGP
from botorch.models.model_list_gp_regression import ModelListGP
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

__all__ = [
    "LOOPredictions",
    "LOOResult",
    "loo_cv",
    "loo_predictions",
    "loo_predictions_single",
    "summarize_loo",
]

_Z95 = 1.96  # two-sided 95 % normal quantile


@dataclasses.dataclass(frozen=True)
class LOOResult:
    """Leave-one-out summary of one outcome's GP.

    Attributes:
        r2: `1 - SS_res / SS_tot` of the LOO means; NaN for a constant outcome.
        coverage_95: Share of points with `|y_i - mu_i| <= 1.96 sqrt(var_i)`;
            about 0.95 for a calibrated model.
        rmse: Root-mean-square LOO error, natural units.
        n: Number of points (measured rows of this outcome).
    """

    r2: float
    coverage_95: float
    rmse: float
    n: int


@dataclasses.dataclass(frozen=True, eq=False)
class LOOPredictions:
    """Per-point leave-one-out predictions of one outcome, natural units.

    Attributes:
        y: A `k`-dim tensor of the measured values.
        mean: A `k`-dim tensor, the LOO predictive means `mu_i`.
        variance: A `k`-dim tensor, the LOO predictive variances `var_i`
            (observation noise included).
    """

    y: Tensor
    mean: Tensor
    variance: Tensor


def loo_predictions_single(gp: SingleTaskGP) -> LOOPredictions:
    """Closed-form leave-one-out predictions of one fitted exact GP.

    Computed in float64 whatever the model's dtype.

    Args:
        gp: A fitted `SingleTaskGP` with a `Standardize(m=1)` outcome transform.

    Returns:
        The `LOOPredictions`, in natural units.
    """
    parts: Any = gp.eval()  # eval: training inputs are stored transformed
    # (`Any`: gpytorch submodules are typed `Tensor | Module` by torch's stubs)
    with torch.no_grad():
        X = parts.train_inputs[0]  # `k x d`, already normalised
        y = parts.train_targets.double()  # `k`, standardised
        prior_mean = parts.mean_module(X).double()  # `k`
        K = parts.covar_module(X).to_dense().double()  # `k x k`
        noise = parts.likelihood.noise.double().expand(y.shape[-1])  # `k`
        K_noisy = K + torch.diag_embed(noise)
        K_inv = torch.cholesky_inverse(psd_safe_cholesky(K_noisy))  # `k x k`
        alpha = K_inv @ (y - prior_mean)  # `k`
        inv_diag = K_inv.diagonal()  # `k`
        mean = y - alpha / inv_diag
        variance = 1.0 / inv_diag
        shift = parts.outcome_transform.means.double().reshape(())
        scale = parts.outcome_transform.stdvs.double().reshape(())
    return LOOPredictions(
        y=y * scale + shift, mean=mean * scale + shift, variance=variance * scale**2
    )


def loo_predictions(
    model: ModelListGP, outcome_names: Sequence[str]
) -> dict[str, LOOPredictions]:
    """Closed-form leave-one-out predictions of every outcome of a model list.

    Args:
        model: A fitted `ModelListGP` as built by `surrogates.fit_gp`.
        outcome_names: The names of its `m` outcomes, in order.

    Returns:
        `{outcome name: LOOPredictions}`.
    """
    gps: list[Any] = list(model.models)
    return {
        name: loo_predictions_single(gp)
        for name, gp in zip(outcome_names, gps, strict=True)
    }


def summarize_loo(pred: LOOPredictions) -> LOOResult:
    """Reduce per-point LOO predictions to R², 95 % coverage and RMSE.

    Args:
        pred: The per-point predictions of one outcome.

    Returns:
        The `LOOResult`.
    """
    residual = pred.y - pred.mean
    ss_res = float((residual**2).sum())
    ss_tot = float(((pred.y - pred.y.mean()) ** 2).sum())
    n = int(pred.y.shape[-1])
    inside = residual.abs() <= _Z95 * pred.variance.clamp_min(0.0).sqrt()
    return LOOResult(
        r2=1.0 - ss_res / ss_tot if ss_tot > 0.0 else math.nan,
        coverage_95=float(inside.double().mean()),
        rmse=math.sqrt(ss_res / n),
        n=n,
    )


def loo_cv(model: ModelListGP, outcome_names: Sequence[str]) -> dict[str, LOOResult]:
    """Exact leave-one-out cross-validation of each outcome, hyperparameters fixed.

    Args:
        model: A fitted `ModelListGP` as built by `surrogates.fit_gp`.
        outcome_names: The names of its `m` outcomes, in order.

    Returns:
        `{outcome name: LOOResult}`.

    Example:
        >>> import torch
        >>> from surrogates import fit_gp
        >>> X = torch.linspace(0, 1, 12, dtype=torch.float64).unsqueeze(-1)
        >>> sur = fit_gp(X, torch.sin(6 * X), outcome_names=["y"], maxiter=50)
        >>> result = loo_cv(sur.model, sur.outcome_names)["y"]
        >>> result.n, result.r2 > 0.9
        (12, True)
    """
    return {
        name: summarize_loo(pred)
        for name, pred in loo_predictions(model, outcome_names).items()
    }
