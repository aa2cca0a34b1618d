"""Objectives, outcome limits, Pareto fronts and hypervolume (numpy only).

Hypervolume is computed here, in plain numpy, rather than through BoTorch or Optuna:
the CLI, the service and the tracking mirror all need it and must not load torch,
and Optuna's implementation is private API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from typing_extensions import override

from doe.exceptions import DefinitionError
from doe.space import to_finite_float

__all__ = [
    "Objective",
    "OutcomeLimit",
    "hypervolume",
    "objective_matrix",
    "pareto_mask",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
Direction = Literal["maximize", "minimize"]


def _check_name(name: object, kind: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{kind} name {name!r} must be lowercase snake_case with its unit as "
            "suffix, e.g. 'specific_energy_wh_kg'."
        )
    return name


@dataclass(frozen=True)
class Objective:
    """An outcome to maximise or minimise.

    Attributes:
        name: Outcome name with unit suffix, e.g. ``retention_pct``.
        direction: ``"maximize"`` or ``"minimize"``.
        unit: Unit label, e.g. ``"Wh/kg"``.
        threshold: The worst value still worth having; the hypervolume reference
            point. ``None``: taken from the data (the worst observed value).
        description: One line for tables.
        noise_sd: Measurement repeatability, one standard deviation in the
            objective's unit (e.g. from replicate cells). The model then uses it as
            known noise instead of inferring the noise from few, scattered results,
            which on noisy outcomes it underestimates (it chases the scatter).
            ``None``: inferred.
        valid_range: ``(low, high)``, the values a measurement can take, in the
            objective's unit (e.g. ``(0, 110)`` for a retention in %). A result
            outside is refused as a likely typo before anything is written.
            ``None``: any finite number.
    """

    name: str
    direction: Direction = "maximize"
    unit: str = "-"
    threshold: float | None = None
    description: str = ""
    noise_sd: float | None = None
    valid_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "Objective")
        if self.direction not in ("maximize", "minimize"):
            raise DefinitionError(
                f"Objective {self.name!r} direction must be 'maximize' or 'minimize'; "
                f"got {self.direction!r}."
            )
        if self.threshold is not None:
            value = to_finite_float(
                self.threshold,
                what=f"Objective {self.name!r} threshold",
                error=DefinitionError,
            )
            object.__setattr__(self, "threshold", value)
        if self.noise_sd is not None:
            sd = to_finite_float(
                self.noise_sd,
                what=f"Objective {self.name!r} noise_sd",
                error=DefinitionError,
            )
            if sd <= 0:
                raise DefinitionError(
                    f"Objective {self.name!r} noise_sd must be a standard deviation "
                    f"> 0 in {self.unit}; got {sd!r}. Leave it out to infer the noise."
                )
            object.__setattr__(self, "noise_sd", sd)
        if self.valid_range is not None:
            object.__setattr__(self, "valid_range", self._checked_range())

    def _checked_range(self) -> tuple[float, float]:
        where = f"Objective {self.name!r} valid_range"
        pair = self.valid_range
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise DefinitionError(
                f"{where} must be [low, high] in {self.unit}; got {pair!r}."
            )
        low, high = (
            to_finite_float(v, what=where, error=DefinitionError) for v in pair
        )
        if not low < high:
            raise DefinitionError(
                f"{where} must have low < high; got [{low:g}, {high:g}] {self.unit}."
            )
        if self.threshold is not None and not low <= self.threshold <= high:
            raise DefinitionError(
                f"Objective {self.name!r} threshold {self.threshold:g} {self.unit} lies "
                f"outside its valid_range [{low:g}, {high:g}]; move one of them."
            )
        return (low, high)

    def out_of_range(self, value: float) -> bool:
        """Whether a measured ``value`` lies outside ``valid_range``."""
        if self.valid_range is None:
            return False
        low, high = self.valid_range
        return not low <= value <= high

    @property
    def sign(self) -> float:
        """+1 to maximise, -1 to minimise (multiply to get a maximisation value)."""
        return 1.0 if self.direction == "maximize" else -1.0

    @property
    def label(self) -> str:
        """Name with unit."""
        return f"{self.name} [{self.unit}]"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict as in the TOML file."""
        out: dict[str, Any] = {
            "name": self.name,
            "direction": self.direction,
            "unit": self.unit,
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.description:
            out["description"] = self.description
        if self.noise_sd is not None:
            out["noise_sd"] = self.noise_sd
        if self.valid_range is not None:
            out["valid_range"] = list(self.valid_range)
        return out


@dataclass(frozen=True)
class OutcomeLimit:
    """An outcome constraint, e.g. ``safety_score >= 70``.

    Attributes:
        name: Outcome name.
        op: ``">="`` or ``"<="``.
        value: The limit in the outcome's unit.
    """

    name: str
    op: Literal[">=", "<="]
    value: float

    def __post_init__(self) -> None:
        _check_name(self.name, "Limit")
        if self.op not in (">=", "<="):
            raise DefinitionError(
                f"Limit on {self.name!r} needs op '>=' or '<='; got {self.op!r}."
            )
        value = to_finite_float(
            self.value, what=f"Limit on {self.name!r} value", error=DefinitionError
        )
        object.__setattr__(self, "value", value)

    def slack(self, outcome: np.ndarray | float) -> np.ndarray:
        """Signed distance to the limit: >= 0 means satisfied."""
        y = np.asarray(outcome, dtype=float)
        return y - self.value if self.op == ">=" else self.value - y

    def is_met(self, outcome: np.ndarray | float) -> np.ndarray:
        """Whether the limit holds (NaN counts as not met)."""
        return np.asarray(np.nan_to_num(self.slack(outcome), nan=-1.0) >= 0)

    @override
    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.value:g}"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict as in the TOML file."""
        return {"name": self.name, "op": self.op, "value": self.value}


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of `n x m` values, all to be maximised.

    Rows are visited in decreasing lexicographic order, so each row needs comparing
    only with the front found so far: O(n x front size).

    Example:
        >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5]])).tolist()
        [True, True, False]
    """
    Y = np.asarray(Y, dtype=float)
    n = Y.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort(Y.T[::-1])[::-1]  # descending by first column, then the next
    front = np.empty((0, Y.shape[1]))
    for i in order:
        y = Y[i]
        if front.shape[0] and np.any(
            np.all(front >= y, axis=1) & np.any(front > y, axis=1)
        ):
            continue
        mask[i] = True
        front = np.vstack([front, y])
    return mask


def _hv2d(P: np.ndarray) -> float:
    """Area dominated by `n x 2` points over the origin (maximisation, P > 0)."""
    if P.shape[0] == 0:
        return 0.0
    order = np.argsort(-P[:, 0], kind="stable")
    x, y = P[order, 0], P[order, 1]
    ymax = np.maximum.accumulate(y)
    prev = np.concatenate(([0.0], ymax[:-1]))
    return float(np.sum(x * np.clip(ymax - prev, 0.0, None)))


def _hv(P: np.ndarray) -> float:
    """Volume dominated by points over the origin, by slicing the last axis."""
    m = P.shape[1]
    if P.shape[0] == 0:
        return 0.0
    if m == 1:
        return float(P[:, 0].max())
    if m == 2:
        return _hv2d(P)
    z = np.unique(P[:, -1])[::-1]
    levels = np.concatenate((z, [0.0]))
    total = 0.0
    for k in range(len(z)):
        active = P[P[:, -1] >= levels[k], :-1]
        total += _hv(active) * (levels[k] - levels[k + 1])
    return total


def hypervolume(Y: np.ndarray, ref: Sequence[float]) -> float:
    """Hypervolume dominated by `n x m` points (maximisation) above ``ref``.

    Rows with NaN and rows that do not strictly exceed ``ref`` in every objective
    add nothing.

    Args:
        Y: Objective values, all to be maximised (flip minimised ones first).
        ref: Reference point, length `m`.

    Returns:
        The hypervolume (0.0 when no point beats the reference).

    Example:
        >>> hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), [0.0, 0.0])
        3.0
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    ref_arr = np.asarray(ref, dtype=float)
    if Y.size == 0:
        return 0.0
    ok = np.all(np.isfinite(Y), axis=1) & np.all(Y > ref_arr, axis=1)
    P = Y[ok] - ref_arr
    if P.shape[0] == 0:
        return 0.0
    P = P[pareto_mask(P)]
    P = np.unique(P, axis=0)
    return _hv(P)


def objective_matrix(
    outcomes: Sequence[Mapping[str, float]], objectives: Sequence[Objective]
) -> np.ndarray:
    """`n x m` matrix of objective values signed for maximisation (NaN if missing)."""
    return np.array(
        [
            [o.sign * float(row.get(o.name, np.nan)) for o in objectives]
            for row in outcomes
        ],
        dtype=float,
    ).reshape(len(outcomes), len(objectives))
