"""The error tree of the `surrogates` package.

Every error raised on purpose by `surrogates` derives from `SurrogateError`. Where it
helps callers, a class also derives from a builtin (BoTorch's pattern, e.g.
`OptimizationGradientError(BotorchError, RuntimeError)`), so `except ValueError`
keeps working for code that does not know our tree.

Nothing but exception classes lives here.
"""

from __future__ import annotations

__all__ = [
    "DeviceUnavailableError",
    "FitError",
    "InputDataError",
    "InputShapeError",
    "NotEnoughDataError",
    "SurrogateError",
]


class SurrogateError(Exception):
    """Base class of every error raised by `surrogates`."""


class InputDataError(SurrogateError, ValueError):
    """Training or prediction data (or an option) has a bad value.

    Examples: NaN in the inputs, an infinite outcome, a negative noise variance, an
    unsupported dtype.
    """


class InputShapeError(InputDataError):
    """Data have the wrong shape, or inputs lie outside their bounds.

    Examples: `train_X` and `train_Y` with different numbers of rows, `m` outcome
    columns but a different number of outcome names, inputs outside the unit cube.
    """


class NotEnoughDataError(SurrogateError, ValueError):
    """An outcome has fewer observed rows than a GP needs (at least 2)."""


class FitError(SurrogateError, RuntimeError):
    """Fitting the hyperparameters of a GP failed, even after a retry.

    The underlying cause is chained (`raise FitError(...) from exc`).
    """


class DeviceUnavailableError(SurrogateError, RuntimeError):
    """The requested torch device (e.g. CUDA) is not available on this machine."""
