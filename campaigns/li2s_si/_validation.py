"""Input checks of the simulated cell: every bad input raises `CellInputError`."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from typing import TypeGuard

import numpy as np
from numpy.typing import NDArray

from campaigns.li2s_si._knobs import CONDITIONS, KNOB_NAMES, KNOBS, Knob

FloatArray = NDArray[np.float64]

_FIX = "Fix the value or use a setting inside the cell's valid range."
_CONDITION = {knob.name: knob for knob in CONDITIONS}


class CellInputError(ValueError):
    """A knob or test condition is missing, unknown, non-numeric or out of range."""


def _range_error(kind: str, knob: Knob, value: object, row: int | None) -> str:
    where = "" if row is None else f" in row {row}"
    shown = repr(float(value)) if _is_real(value) else repr(value)
    return (
        f"{kind} {knob.name!r} must lie in {knob.range_text}; got {shown}{where}. "
        f"{_FIX}"
    )


def _check_names(names: list[str]) -> None:
    """Raise for unknown knob names (with a suggestion) and for missing ones."""
    for name in names:
        if name not in KNOB_NAMES:
            close = difflib.get_close_matches(str(name), KNOB_NAMES, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise CellInputError(
                f"Unknown knob {name!r}.{hint} Valid knobs: {', '.join(KNOB_NAMES)}."
            )
    for knob in KNOBS:
        if knob.name not in names:
            raise CellInputError(
                f"Missing knob {knob.name!r} (valid range {knob.range_text}). "
                f"Every evaluation needs all of: {', '.join(KNOB_NAMES)}."
            )


def _check_scalar(kind: str, knob: Knob, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CellInputError(
            f"{kind} {knob.name!r} must be a real number in {knob.range_text}; "
            f"got {value!r} of type {type(value).__name__}. {_FIX}"
        )
    number = float(value)
    if not math.isfinite(number) or not knob.low <= number <= knob.high:
        raise CellInputError(_range_error(kind, knob, value, None))
    return number


def validate_knobs(settings: Mapping[str, object]) -> dict[str, float]:
    """Check one recipe and return it as floats.

    Args:
        settings: A value for each of the five knobs, keyed by knob name.

    Returns:
        The knob values as Python floats, in `KNOBS` order.

    Raises:
        CellInputError: If settings is not a mapping, a knob is unknown or
            missing, or a value is non-numeric, non-finite or out of range.
    """
    if not isinstance(settings, Mapping):
        raise CellInputError(
            f"Settings must be a mapping from knob name to value; got "
            f"{type(settings).__name__}. Valid knobs: {', '.join(KNOB_NAMES)}."
        )
    _check_names([str(name) for name in settings])
    return {k.name: _check_scalar("Knob", k, settings[k.name]) for k in KNOBS}


def validate_conditions(
    temperature_c: object, c_rate: object, cycles: object
) -> tuple[float, float, int]:
    """Check the test conditions.

    Args:
        temperature_c: Test temperature in C.
        c_rate: Charge/discharge rate.
        cycles: Number of cycles to simulate (an integer).

    Returns:
        ``(temperature_c, c_rate, cycles)`` as float, float, int.

    Raises:
        CellInputError: If a condition is non-numeric, non-finite or out of
            range, or cycles is not an integer.
    """
    temperature = _check_scalar("Condition", _CONDITION["temperature_c"], temperature_c)
    rate = _check_scalar("Condition", _CONDITION["c_rate"], c_rate)
    knob = _CONDITION["cycles"]
    if isinstance(cycles, bool) or not isinstance(cycles, numbers.Integral):
        raise CellInputError(
            f"Condition 'cycles' must be an integer in {knob.range_text}; got "
            f"{cycles!r} of type {type(cycles).__name__}. {_FIX}"
        )
    if not knob.low <= int(cycles) <= knob.high:
        raise CellInputError(
            f"Condition 'cycles' must lie in [{int(knob.low)}, {int(knob.high)}] "
            f"(cycles); got {int(cycles)}. {_FIX}"
        )
    return temperature, rate, int(cycles)


def _as_column(knob: Knob, values: object) -> FloatArray:
    array = np.asarray(values)
    if array.dtype == np.object_ and all(_is_real(v) for v in array.ravel()):
        array = array.astype(np.float64)
    if array.dtype.kind not in "iuf":  # bool, complex, str, object, datetime
        items = array.ravel().tolist()
        bad = next((v for v in items if not _is_real(v)), items[0] if items else None)
        raise CellInputError(
            f"Knob {knob.name!r} must hold real numbers in {knob.range_text}; got "
            f"{bad!r} (array dtype {array.dtype}). {_FIX}"
        )
    if array.ndim > 1:
        raise CellInputError(
            f"Knob {knob.name!r} must be a scalar or a 1-D array; got shape "
            f"{array.shape}."
        )
    return np.atleast_1d(array.astype(np.float64))


def _is_real(value: object) -> TypeGuard[numbers.Real]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_column(knob: Knob, column: FloatArray) -> None:
    bad = ~np.isfinite(column) | (column < knob.low) | (column > knob.high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CellInputError(_range_error("Knob", knob, float(column[row]), row))


def _columns_from_matrix(settings: object) -> dict[str, object]:
    matrix = np.asarray(settings)
    if matrix.ndim != 2 or matrix.shape[1] != len(KNOBS):
        raise CellInputError(
            f"A settings array must have shape `n x {len(KNOBS)}` with columns "
            f"{', '.join(KNOB_NAMES)}; got shape {matrix.shape}. Reshape a single "
            "recipe with array.reshape(1, -1) or pass a dict of arrays."
        )
    return {name: matrix[:, j] for j, name in enumerate(KNOB_NAMES)}


def validate_knob_arrays(settings: object) -> dict[str, FloatArray]:
    """Check many recipes at once and return one float array per knob.

    Args:
        settings: Either a mapping from knob name to a scalar or 1-D array, or a
            `n x 5` array whose columns follow `KNOBS`.

    Returns:
        One float64 array of shape `n` per knob, in `KNOBS` order.

    Raises:
        CellInputError: If a knob is unknown or missing, the shapes disagree,
            or a value is non-numeric, non-finite or out of range (the message
            names the first bad row).
    """
    if isinstance(settings, Mapping):
        _check_names([str(name) for name in settings])
        raw = {name: settings[name] for name in KNOB_NAMES}
    else:
        raw = _columns_from_matrix(settings)
    columns = [_as_column(knob, raw[knob.name]) for knob in KNOBS]
    try:
        columns = list(np.broadcast_arrays(*columns))
    except ValueError as exc:
        shapes = {k.name: c.shape for k, c in zip(KNOBS, columns, strict=True)}
        raise CellInputError(
            f"Knob arrays must share one length; got shapes {shapes}."
        ) from exc
    if columns[0].size == 0:
        raise CellInputError("Settings hold no recipe (length 0); pass at least one.")
    for knob, column in zip(KNOBS, columns, strict=True):
        _check_column(knob, column)
    return {k.name: np.array(c) for k, c in zip(KNOBS, columns, strict=True)}
