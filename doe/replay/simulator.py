"""Simulators as the replay sees them: loaded by ``module:Class`` path, never imported.

A simulator is any class whose instances, made with ``seed=...`` (and ``noise=...``
when the constructor takes it), have ``evaluate(settings) -> mapping`` returning the
campaign's outcome names and optionally ``failed``, ``failure_kind`` and
``duration_h`` (lab hours; :data:`DEFAULT_DURATION_H` when absent). A vectorised
``evaluate_many`` (a mapping of parameter name to a 1-D array in, a mapping of
outcome name to a 1-D array out) is used for noise-free evaluation when present.
The class's module may define ``SIMULATOR_VERSION``; the true-front cache is keyed
by it.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from doe._paths import import_path
from doe.definition import CampaignDefinition
from doe.exceptions import DoeError

__all__ = [
    "DEFAULT_DURATION_H",
    "SHORT_NAMES",
    "Outcome",
    "SimulatorError",
    "SimulatorSpec",
    "resolve_simulator",
    "spec_of",
]

DEFAULT_DURATION_H = 24.0
#: Short names of the lab's simulators: ``name -> (module:Class, campaign file)``;
#: the campaign file is relative to the simulator's package.
SHORT_NAMES: dict[str, tuple[str, str]] = {
    "li2s_si": ("campaigns.li2s_si:SimulatedCell", "campaign.toml"),
}
#: Keyword arguments passed to ``evaluate_many`` when its signature takes them
#: (the cell: no per-cycle curves, 100 cycles are enough for every objective).
VECTOR_OPTIONS: dict[str, Any] = {"include_curves": False, "cycles": 100}


class SimulatorError(DoeError, ValueError):
    """A simulator cannot be loaded, or it returned something the replay cannot use."""


@dataclass(frozen=True)
class Outcome:
    """What one simulated experiment gave.

    Attributes:
        outcomes: The campaign's outcomes present in the result (objectives and
            declared extra outcomes), finite floats; empty when it failed.
        failed: Whether the experiment failed.
        failure_kind: The failure kind, when it failed (``build_failed`` when the
            simulator names none; the ledger checks it is one of its kinds).
        duration_h: Lab hours the experiment occupied a channel.
    """

    outcomes: dict[str, float]
    failed: bool = False
    failure_kind: str | None = None
    duration_h: float = DEFAULT_DURATION_H


@dataclass(frozen=True)
class SimulatorSpec:
    """A simulator class named by its import path (picklable, for worker processes).

    Attributes:
        path: ``module:Class``, e.g. ``campaigns.li2s_si:SimulatedCell``.
    """

    path: str

    def __post_init__(self) -> None:
        module, sep, name = self.path.partition(":")
        if not sep or not module or not name or ":" in name:
            raise SimulatorError(
                f"Simulator {self.path!r} must be a short name "
                f"({', '.join(SHORT_NAMES)}) or 'module:Class', e.g. "
                "'campaigns.li2s_si:SimulatedCell'."
            )

    @cached_property
    def cls(self) -> type:
        """The simulator class (imported on first use).

        Raises:
            SimulatorError: The module or the class does not exist.
        """
        try:
            module_name, name, cls = import_path(self.path)
        except ImportError as exc:
            raise SimulatorError(
                f"Cannot import the module of simulator {self.path!r}: {exc}."
            ) from exc
        if not isinstance(cls, type):
            raise SimulatorError(
                f"Module {module_name!r} has no class {name!r} (simulator {self.path!r})."
            )
        if not callable(getattr(cls, "evaluate", None)):
            raise SimulatorError(
                f"Simulator {self.path!r} has no method evaluate(settings) -> mapping."
            )
        return cls

    @property
    def version(self) -> str:
        """``SIMULATOR_VERSION`` of the class or its module, else ``"unversioned"``."""
        module = importlib.import_module(self.cls.__module__)
        found = getattr(self.cls, "SIMULATOR_VERSION", None) or getattr(
            module, "SIMULATOR_VERSION", None
        )
        return str(found) if found else "unversioned"

    @property
    def takes_noise(self) -> bool:
        """Whether the constructor accepts ``noise``."""
        params = inspect.signature(self.cls).parameters.values()
        return any(
            p.name == "noise" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params
        )

    @property
    def is_vectorised(self) -> bool:
        """Whether instances have ``evaluate_many``."""
        return callable(getattr(self.cls, "evaluate_many", None))

    def make(self, seed: int, *, noise: bool = True) -> Any:
        """A simulator instance: ``cls(seed=seed, noise=noise)`` or ``cls(seed=seed)``.

        A class without a ``noise`` argument is taken as it is, noisy or not.
        """
        if self.takes_noise:
            return self.cls(seed=seed, noise=noise)
        return self.cls(seed=seed)

    def module_dir(self) -> Path:
        """The folder of the simulator's module."""
        module = importlib.import_module(self.cls.__module__)
        return Path(str(module.__file__)).resolve().parent


def spec_of(simulator: str | SimulatorSpec) -> SimulatorSpec:
    """The spec of a short name, a ``module:Class`` path or a spec.

    Raises:
        SimulatorError: Neither a short name nor a ``module:Class`` path.
    """
    if isinstance(simulator, SimulatorSpec):
        return simulator
    if simulator in SHORT_NAMES:
        return SimulatorSpec(SHORT_NAMES[simulator][0])
    if ":" in str(simulator):
        return SimulatorSpec(str(simulator))
    raise SimulatorError(
        f"Unknown simulator {simulator!r}. Use a short name "
        f"({', '.join(SHORT_NAMES)}) or 'module:Class' with --campaign-file."
    )


def resolve_simulator(
    simulator: str | SimulatorSpec, campaign_file: str | Path | None = None
) -> tuple[SimulatorSpec, CampaignDefinition]:
    """The simulator and its campaign definition.

    Args:
        simulator: A short name (``li2s_si``) or ``module:Class``.
        campaign_file: The campaign TOML; required for a ``module:Class`` path,
            optional for a short name (default: the campaign next to it).

    Returns:
        The simulator spec and the validated definition.

    Raises:
        SimulatorError: Unknown short name, bad path, or no campaign file for a
            ``module:Class`` simulator.
        DefinitionError: The campaign file is missing or invalid.
    """
    spec = spec_of(simulator)
    _ = spec.cls  # import it now: a bad path fails before any work
    default_file = next((f for p, f in SHORT_NAMES.values() if p == spec.path), None)
    if campaign_file is None:
        if default_file is None:
            raise SimulatorError(
                f"Simulator {spec.path!r} needs a campaign definition: pass "
                "--campaign-file (campaign_file=) with its knobs and objectives."
            )
        campaign_file = spec.module_dir() / default_file
    return spec, CampaignDefinition.from_toml(campaign_file)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_result(
    result: Mapping[str, Any], definition: CampaignDefinition, *, where: str
) -> Outcome:
    """Turn one noisy ``evaluate`` result into what the ledger records.

    Args:
        result: What ``evaluate`` returned.
        definition: The campaign (its outcome names).
        where: Names the simulator and settings in messages.

    Returns:
        The outcome.

    Raises:
        SimulatorError: Not a mapping, a bad duration, or a
            missing or non-finite objective in a result that did not fail.
    """
    if not isinstance(result, Mapping):
        raise SimulatorError(
            f"{where}: evaluate() must return a mapping of outcome name to value; "
            f"got {type(result).__name__}."
        )
    duration = _finite(result.get("duration_h", DEFAULT_DURATION_H))
    if duration is None or duration < 0:
        raise SimulatorError(
            f"{where}: duration_h must be a finite number of hours >= 0; "
            f"got {result.get('duration_h')!r}."
        )
    if result.get("failed"):
        kind = result.get("failure_kind") or "build_failed"
        return Outcome({}, failed=True, failure_kind=str(kind), duration_h=duration)
    outcomes = {}
    for name in definition.outcome_names:
        if name in result:
            value = _finite(result[name])
            if value is None and name in {o.name for o in definition.objectives}:
                raise SimulatorError(
                    f"{where}: objective {name!r} is {result[name]!r}, not a finite number."
                )
            if value is not None:
                outcomes[name] = value
    missing = [o.name for o in definition.objectives if o.name not in outcomes]
    if missing:
        raise SimulatorError(
            f"{where}: the result lacks the objective(s) {', '.join(missing)} of "
            f"campaign {definition.name!r}; it has {', '.join(sorted(map(str, result)))}."
        )
    return Outcome(outcomes, duration_h=duration)


def _supported(fn: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


class Oracle:
    """The noise-free simulator: true outcomes of settings, vectorised when it can be.

    Args:
        spec: The simulator.
        definition: The campaign (parameters, objectives, limits).
    """

    def __init__(self, spec: SimulatorSpec, definition: CampaignDefinition) -> None:
        self.spec = spec
        self.definition = definition
        self._sim = spec.make(0, noise=False)
        self._names = sorted(
            {o.name for o in definition.objectives}
            | {lim.name for lim in definition.limits}
        )

    def outcomes(self, rows: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
        """True outcomes: objectives and limited outcomes, plus ``failed`` (bool).

        Args:
            rows: Settings, one mapping per experiment.

        Returns:
            ``{name: n-array}``; NaN where the simulator gave nothing.
        """
        n = len(rows)
        out = {k: np.full(n, np.nan) for k in self._names}
        out["failed"] = np.zeros(n, dtype=bool)
        if n == 0:
            return out
        if self.spec.is_vectorised:
            names = self.definition.space.names
            arrays = {p: np.array([r[p] for r in rows], dtype=float) for p in names}
            many = self._sim.evaluate_many(
                arrays, **_supported(self._sim.evaluate_many, VECTOR_OPTIONS)
            )
            for k in self._names:
                if k in many:
                    out[k] = np.asarray(many[k], dtype=float).reshape(n)
            if "failed" in many:
                out["failed"] = np.asarray(many["failed"], dtype=bool).reshape(n)
            return out
        for i, row in enumerate(rows):
            res = self._sim.evaluate(dict(row))
            for k in self._names:
                value = _finite(res.get(k)) if isinstance(res, Mapping) else None
                out[k][i] = np.nan if value is None else value
            out["failed"][i] = (
                bool(res.get("failed")) if isinstance(res, Mapping) else True
            )
        return out

    def assess(
        self, rows: Sequence[Mapping[str, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Objective matrix (signed for maximisation) and which rows meet every limit.

        A setting that fails even without noise meets no limit.

        Returns:
            ``(y, ok)``: `n x m` values and an `n` boolean mask.
        """
        true = self.outcomes(rows)
        d = self.definition
        y = np.column_stack([o.sign * true[o.name] for o in d.objectives]).reshape(
            len(rows), len(d.objectives)
        )
        ok = ~true["failed"] & np.all(np.isfinite(y), axis=1)
        for lim in d.limits:
            ok &= lim.is_met(true[lim.name])
        return y, ok
