"""Parameters, the search space, and the map to and from the unit cube.

No torch here: the space is plain numpy so that the CLI and the service stay light.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from doe.exceptions import DefinitionError, InvalidSettingsError

__all__ = [
    "Parameter",
    "SearchSpace",
    "closest_name",
    "format_number",
    "to_finite_float",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def closest_name(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def format_number(value: Any, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, ``-`` when missing.

    Example:
        >>> format_number(802.159), format_number(None), format_number(float("nan"))
        ('802.2', '-', '-')
    """
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "-"
    return f"{number:.{digits}g}"


def to_finite_float(value: Any, *, what: str, error: type[Exception]) -> float:
    """Convert ``value`` to a finite float or raise ``error`` naming ``what``.

    Args:
        value: A number or a numeric string.
        what: How to name the value in the message, e.g. ``"Parameter 'np_ratio'"``.
        error: The exception class to raise.

    Returns:
        The value as a float.

    Raises:
        Exception: ``error`` when the value is not a finite number.
    """
    if isinstance(value, bool):
        raise error(f"{what} must be a number; got the boolean {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{what} must be a number; got {value!r}.") from None
    if not math.isfinite(number):
        raise error(f"{what} must be a finite number; got {value!r}.")
    return number


@dataclass(frozen=True)
class Parameter:
    """One knob the optimizer sets.

    Attributes:
        name: Identifier with the unit as suffix, e.g. ``nitridation_temp_c``.
        low: Lower bound in ``unit``.
        high: Upper bound in ``unit``.
        unit: Unit label shown to people, e.g. ``"C"``, ``"mg/cm2"``, ``"-"``.
        log: Search on a log scale (``low`` must be > 0).
        step: Grid step for discrete values (``None``: continuous).
        description: One line for tables and the web page.
    """

    name: str
    low: float
    high: float
    unit: str = "-"
    log: bool = False
    step: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"Parameter {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise DefinitionError(
                f"Parameter name {self.name!r} must be lowercase snake_case "
                "(letters, digits, '_'), e.g. 'nitridation_temp_c'."
            )
        low = to_finite_float(self.low, what=f"{where} low", error=DefinitionError)
        high = to_finite_float(self.high, what=f"{where} high", error=DefinitionError)
        if not low < high:
            raise DefinitionError(
                f"{where} needs low < high; got low={low}, high={high}."
            )
        if self.log and low <= 0:
            raise DefinitionError(
                f"{where} has log = true, so low must be > 0; got low={low}."
            )
        if self.step is not None:
            step = to_finite_float(
                self.step, what=f"{where} step", error=DefinitionError
            )
            if step <= 0 or step > high - low:
                raise DefinitionError(
                    f"{where} step must lie in (0, high - low = {high - low}]; "
                    f"got step={step}."
                )
            if self.log:
                raise DefinitionError(f"{where} cannot have both log and step.")
            object.__setattr__(self, "step", step)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def checked(self, value: Any, *, what: str, fix: str) -> float:
        """``value`` as a float inside the bounds, or InvalidSettingsError.

        Args:
            value: A number or a numeric string.
            what: How to name it, e.g. ``"Parameter 'np_ratio' in row 3"``.
            fix: What to do when it is out of bounds (a sentence).
        """
        number = to_finite_float(value, what=what, error=InvalidSettingsError)
        tol = 1e-9 * (self.high - self.low)
        if not self.low - tol <= number <= self.high + tol:
            raise InvalidSettingsError(
                f"{what} must lie in [{self.low:g}, {self.high:g}] {self.unit}; got "
                f"{number:g}. {fix}"
            )
        return min(max(number, self.low), self.high)

    @property
    def label(self) -> str:
        """Name with unit, e.g. ``nitridation_temp_c [C]``."""
        return f"{self.name} [{self.unit}]"

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Map natural values to [0, 1] (log scale when declared)."""
        values = np.asarray(values, dtype=float)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return np.asarray((np.log(values) - lo) / (hi - lo))
        return np.asarray((values - self.low) / (self.high - self.low))

    def decode(self, unit: np.ndarray, *, snap: bool = True) -> np.ndarray:
        """Map [0, 1] to natural values, snapping to the step grid when declared.

        ``snap=False`` leaves values between the steps (a smooth map, for finite
        differences).
        """
        unit = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return np.clip(np.exp(lo + unit * (hi - lo)), self.low, self.high)
        values = self.low + unit * (self.high - self.low)
        if self.step is not None and snap:
            values = self.low + np.round((values - self.low) / self.step) * self.step
            values = np.clip(values, self.low, self.high)
        return values

    def to_dict(self) -> dict[str, Any]:
        """Plain dict as in the TOML file."""
        out: dict[str, Any] = {
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
        }
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class SearchSpace:
    """The ordered set of parameters of a campaign.

    Example:
        >>> space = SearchSpace((Parameter("x_c", 0.0, 10.0, unit="C"),))
        >>> space.encode_one({"x_c": 5.0}).tolist()
        [0.5]
    """

    parameters: tuple[Parameter, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        params = tuple(self.parameters)
        if not params:
            raise DefinitionError("A campaign needs at least one parameter; got none.")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DefinitionError(f"Parameter names must be unique; repeated: {dupes}.")
        object.__setattr__(self, "parameters", params)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    @property
    def names(self) -> list[str]:
        """Parameter names in order."""
        return [p.name for p in self.parameters]

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        return self.parameters[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def validate(
        self, settings: Mapping[str, Any], *, where: str = ""
    ) -> dict[str, float]:
        """Check one configuration and return it as floats in parameter order.

        Args:
            settings: A value for every parameter.
            where: Context for messages, e.g. ``" in results.csv row 3"``.

        Returns:
            ``{name: value}`` in parameter order.

        Raises:
            InvalidSettingsError: Unknown or missing parameters, non-numeric,
                non-finite or out-of-bounds values.
        """
        unknown = [k for k in settings if k not in self._index]
        if unknown:
            hint = closest_name(unknown[0], self.names)
            raise InvalidSettingsError(
                f"Unknown parameter {unknown[0]!r}{where}.{hint} "
                f"Known parameters: {', '.join(self.names)}."
            )
        missing = [n for n in self.names if n not in settings]
        if missing:
            raise InvalidSettingsError(
                f"Missing value for parameter(s) {', '.join(map(repr, missing))}{where}; "
                "every parameter needs a value."
            )
        out: dict[str, float] = {}
        for p in self.parameters:
            out[p.name] = p.checked(
                settings[p.name],
                what=f"Parameter {p.name!r}{where}",
                fix="Use a value inside the campaign's bounds.",
            )
        return out

    def validate_fixed(
        self, fixed: Mapping[str, Any] | None, *, where: str = ""
    ) -> dict[str, float]:
        """Check knobs the lab holds at given values (e.g. a synthesis batch on hand).

        Args:
            fixed: ``{name: value}`` for some of the parameters (None or empty:
                none fixed).
            where: Context for messages, e.g. ``" in --fix"``.

        Returns:
            ``{name: value}`` in parameter order, as floats.

        Raises:
            InvalidSettingsError: An unknown parameter, a value that is not a
                finite number, outside the bounds or off a grid knob's steps, or
                every parameter fixed (nothing left to choose).
        """
        if not fixed:
            return {}
        unknown = [k for k in fixed if k not in self._index]
        if unknown:
            hint = closest_name(str(unknown[0]), self.names)
            raise InvalidSettingsError(
                f"Unknown parameter {unknown[0]!r} to fix{where}.{hint} "
                f"Known parameters: {', '.join(self.names)}."
            )
        if len(fixed) == self.dim:
            raise InvalidSettingsError(
                f"Every parameter is fixed{where}, so there is nothing to choose. "
                "Leave at least one free, or add a chosen cell with `doe import` "
                "once it is measured."
            )
        out: dict[str, float] = {}
        for p in self.parameters:
            if p.name not in fixed:
                continue
            what = f"Fixed parameter {p.name!r}{where}"
            value = p.checked(
                fixed[p.name],
                what=what,
                fix="Use a value inside the campaign's bounds, or widen them with "
                "`doe update`.",
            )
            if p.step is not None:
                k = (value - p.low) / p.step
                if abs(k - round(k)) > 1e-6:
                    below = p.low + math.floor(k) * p.step
                    above = min(below + p.step, p.high)
                    raise InvalidSettingsError(
                        f"{what} moves in steps of {p.step:g} {p.unit} from "
                        f"{p.low:g}; got {value:g}. Use {below:g} or {above:g}."
                    )
                value = float(p.low + round(k) * p.step)
            out[p.name] = value
        return out

    def validate_shared(
        self,
        shared: Iterable[str] | None,
        fixed: Mapping[str, float] | None = None,
        *,
        where: str = "",
    ) -> tuple[str, ...]:
        """Check knobs a whole batch shares (e.g. one synthesis for several cells).

        Args:
            shared: Knob names (None or empty: none).
            fixed: Knobs already held at given values (shared anyway).
            where: Context for messages, e.g. ``" in --shared"``.

        Returns:
            The shared knobs not already fixed, in parameter order.

        Raises:
            InvalidSettingsError: An unknown knob, or every knob shared or fixed
                (the batch would repeat one experiment).
        """
        names = list(shared or ())
        if not names:
            return ()
        for name in names:
            if name not in self._index:
                hint = closest_name(str(name), self.names)
                raise InvalidSettingsError(
                    f"Unknown parameter {name!r} to share{where}.{hint} "
                    f"Known parameters: {', '.join(self.names)}."
                )
        held = set(fixed or {})
        if set(names) | held == set(self.names):
            raise InvalidSettingsError(
                f"Every parameter is shared or fixed{where}, so the batch would "
                "repeat one experiment. Leave at least one knob free to vary "
                "within the batch."
            )
        return tuple(n for n in self.names if n in names and n not in held)

    def matches(
        self, settings: Mapping[str, float], fixed: Mapping[str, float]
    ) -> bool:
        """Whether ``settings`` hold every fixed value (to 1e-9 of each range)."""
        return all(
            abs(float(settings[name]) - value)
            <= 1e-9 * (self[name].high - self[name].low)
            for name, value in fixed.items()
        )

    def with_fixed(self, unit: np.ndarray, fixed: Mapping[str, float]) -> np.ndarray:
        """Unit-cube rows (`n x d`) with the fixed knobs set (a copy)."""
        rows = np.array(unit, dtype=float, copy=True)
        for name, value in fixed.items():
            rows[:, self._index[name]] = self[name].encode(np.array([value]))[0]
        return rows

    def fixed_features(self, fixed: Mapping[str, float]) -> dict[int, float]:
        """``{column: unit-cube value}`` of the fixed knobs (for the optimiser)."""
        return {
            self._index[name]: float(self[name].encode(np.array([value]))[0])
            for name, value in fixed.items()
        }

    def encode(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Map configurations to the unit cube: an `n x d` array."""
        if not rows:
            return np.zeros((0, self.dim))
        cols = [p.encode(np.array([r[p.name] for r in rows])) for p in self.parameters]
        return np.column_stack(cols)

    def encode_one(self, settings: Mapping[str, float]) -> np.ndarray:
        """Map one configuration to a `d`-vector in the unit cube."""
        return np.asarray(self.encode([settings])[0])

    def decode(self, unit: np.ndarray) -> list[dict[str, float]]:
        """Map an `n x d` unit-cube array to configurations (snapped to steps)."""
        unit = np.atleast_2d(np.asarray(unit, dtype=float))
        cols = [p.decode(unit[:, i]) for i, p in enumerate(self.parameters)]
        return [
            {p.name: float(cols[i][j]) for i, p in enumerate(self.parameters)}
            for j in range(unit.shape[0])
        ]

    def sobol(self, n: int, *, seed: int | None, skip: int = 0) -> np.ndarray:
        """Scrambled Sobol points in the unit cube: an `n x d` array.

        Args:
            n: Number of points.
            seed: Scrambling seed (the same seed gives the same sequence).
            skip: Points of the sequence to skip, so that successive calls
                continue one sequence instead of repeating it.

        Returns:
            An `n x d` array.
        """
        from scipy.stats import qmc

        engine = qmc.Sobol(d=self.dim, scramble=True, seed=seed)
        if skip:
            engine.fast_forward(skip)
        with warnings.catch_warnings():
            # a campaign continues one sequence in batches of any size, so the
            # power-of-two balance warning does not apply
            warnings.filterwarnings("ignore", message=".*balance properties.*")
            return np.asarray(engine.random(n))

    def to_list(self) -> list[dict[str, Any]]:
        """Plain list of parameter dicts, as in the TOML file."""
        return [p.to_dict() for p in self.parameters]
