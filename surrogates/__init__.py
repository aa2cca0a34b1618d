"""GP surrogates for the optimizer: fit, predict, cross-validate, save and load.

`surrogates` knows nothing of `doe` or `campaigns`: it takes tensors of unit-cube
inputs and natural-unit outcomes, and returns immutable fitted objects. It imports
torch and BoTorch at import time, so `doe` imports it lazily.

Example:
    >>> import torch
    >>> from surrogates import fit_gp
    >>> X = torch.rand(12, 3, dtype=torch.float64)
    >>> sur = fit_gp(X, X.sum(-1, keepdim=True), outcome_names=["y"], maxiter=50)
    >>> sur.loo_cv()["y"].n
    12
"""

from __future__ import annotations

from surrogates.diagnostics import LOOPredictions, LOOResult, loo_cv, loo_predictions
from surrogates.exceptions import (
    DeviceUnavailableError,
    FitError,
    InputDataError,
    InputShapeError,
    NotEnoughDataError,
    SurrogateError,
)
from surrogates.feasibility import FeasibilityModel, fit_feasibility
from surrogates.fit import fit_gp
from surrogates.means import PriorModel
from surrogates.models import FORMAT_VERSION, GPSurrogate

__all__ = [
    "FORMAT_VERSION",
    "DeviceUnavailableError",
    "FeasibilityModel",
    "FitError",
    "GPSurrogate",
    "InputDataError",
    "InputShapeError",
    "LOOPredictions",
    "LOOResult",
    "NotEnoughDataError",
    "PriorModel",
    "SurrogateError",
    "fit_feasibility",
    "fit_gp",
    "loo_cv",
    "loo_predictions",
]
