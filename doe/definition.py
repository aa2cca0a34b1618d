"""Campaign definitions: the TOML file (or dict) that states knobs, objectives, limits.

A definition is a frozen value. It is stored with the campaign's study together with
its schema version and a content hash, so a campaign loads by name alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typing_extensions import override

from doe.exceptions import (
    DefinitionError,
    IncompatibleDefinitionError,
    InvalidArgumentError,
)
from doe.objectives import Objective, OutcomeLimit
from doe.space import Parameter, SearchSpace, closest_name
from doe.strategy_settings import file_options, table_of

__all__ = [
    "SCHEMA_VERSION",
    "STRATEGY_NAMES",
    "CampaignDefinition",
    "DefinitionChange",
    "definition_changes",
]

SCHEMA_VERSION = 1
STRATEGY_NAMES = ("gp", "sobol", "random", "tpe", "nsga2", "gpsampler", "botorch")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TOP_KEYS = {
    "name",
    "description",
    "parameters",
    "objectives",
    "limits",
    "initial_design",
    "strategy",
    "seed",
    "suggestion_ttl_days",
    "tracking",
    "outcomes",
    "gp",
    "version",
}
_PARAM_KEYS = {"name", "low", "high", "unit", "log", "step", "description"}
_OBJ_KEYS = {
    "name",
    "direction",
    "unit",
    "threshold",
    "description",
    "noise_sd",
    "valid_range",
}
_LIMIT_KEYS = {"name", "op", "value"}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = closest_name(key, allowed)
            raise DefinitionError(
                f"Unknown key {key!r} in {where}.{hint} Allowed: {', '.join(sorted(allowed))}."
            )


def _build(cls: type, table: Any, keys: set[str], where: str) -> Any:
    if not isinstance(table, Mapping):
        raise DefinitionError(f"{where} must be a table of keys; got {table!r}.")
    _check_keys(table, keys, where)
    try:
        return cls(**table)
    except TypeError as exc:
        raise DefinitionError(f"{where} is incomplete: {exc}.") from exc


@dataclass(frozen=True)
class CampaignDefinition:
    """What a campaign optimises: its knobs, objectives and outcome limits.

    Attributes:
        name: Campaign slug (lowercase letters, digits, '-', '_'), e.g. ``li2s-si-gpe``.
        description: Free text.
        space: The parameters.
        objectives: The outcomes to optimise, in order.
        limits: Outcome constraints (a suggestion should meet them).
        initial_design: Space-filling points before the model takes over
            (default ``2 x dims``); recorded data counts towards it.
        strategy: Strategy name, one of ``STRATEGY_NAMES``.
        seed: Seed of every random choice of the campaign.
        suggestion_ttl_days: Unclaimed suggestions older than this are abandoned.
        tracking: Mirror the campaign to MLflow.
        outcomes: Extra outcomes recorded but not optimised (name -> unit).
        gp: Settings of the ``gp`` strategy that the file sets (the ``[gp]``
            table, `doe.strategy_settings.FILE_KEYS`), as ``(key, value)`` pairs
            sorted by key; the others keep their defaults. Other strategies
            ignore them.
    """

    name: str
    space: SearchSpace
    objectives: tuple[Objective, ...]
    limits: tuple[OutcomeLimit, ...] = ()
    description: str = ""
    initial_design: int | None = None
    strategy: str = "gp"
    seed: int = 0
    suggestion_ttl_days: float = 14.0
    tracking: bool = True
    outcomes: tuple[tuple[str, str], ...] = ()
    gp: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SLUG.match(self.name):
            raise DefinitionError(
                f"Campaign name {self.name!r} must be a slug: lowercase letters, digits, "
                "'-' or '_', at most 63 characters, e.g. 'li2s-si-gpe'."
            )
        if not self.objectives:
            raise DefinitionError(
                f"Campaign {self.name!r} needs at least one objective."
            )
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise DefinitionError(
                f"Campaign {self.name!r} repeats an objective: {names}."
            )
        clash = set(names) & set(self.space.names)
        if clash:
            raise DefinitionError(
                f"Campaign {self.name!r}: {sorted(clash)} is both a parameter and an objective."
            )
        known = set(self.outcome_names)
        for limit in self.limits:
            if limit.name not in known:
                raise DefinitionError(
                    f"Limit {limit} of campaign {self.name!r} names an unknown outcome"
                    f"{closest_name(limit.name, known)} Limits apply to objectives or to "
                    "outcomes declared under [outcomes]."
                )
        self._check_numbers()

    def _check_numbers(self) -> None:
        where = f"campaign {self.name!r}"
        if self.strategy not in STRATEGY_NAMES:
            raise DefinitionError(
                f"Strategy {self.strategy!r} of {where} is unknown."
                f"{closest_name(self.strategy, STRATEGY_NAMES)} "
                f"Choose one of: {', '.join(STRATEGY_NAMES)}."
            )
        if self.initial_design is not None and (
            not isinstance(self.initial_design, int)
            or isinstance(self.initial_design, bool)
            or self.initial_design < 1
        ):
            raise DefinitionError(
                f"initial_design of {where} must be a whole number >= 1; "
                f"got {self.initial_design!r}."
            )
        if (
            not isinstance(self.seed, int)
            or isinstance(self.seed, bool)
            or self.seed < 0
        ):
            raise DefinitionError(
                f"seed of {where} must be an integer >= 0; got {self.seed!r}."
            )
        try:
            options = file_options(dict(self.gp), f"[gp] of {where}")
        except InvalidArgumentError as exc:
            raise DefinitionError(str(exc)) from exc
        object.__setattr__(self, "gp", tuple(sorted(options.items())))  # canonical
        ttl = self.suggestion_ttl_days
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise DefinitionError(
                f"suggestion_ttl_days of {where} must be a number of days > 0; got {ttl!r}."
            )

    # ------------------------------------------------------------------ derived
    @property
    def n_initial(self) -> int:
        """Number of space-filling points before the model is used."""
        return (
            self.initial_design
            if self.initial_design is not None
            else 2 * self.space.dim
        )

    @property
    def gp_options(self) -> dict[str, Any]:
        """The ``[gp]`` settings as `GPSettings` keyword arguments."""
        return dict(self.gp)

    @property
    def outcome_names(self) -> list[str]:
        """Objectives first, then the extra outcomes."""
        return [o.name for o in self.objectives] + [n for n, _ in self.outcomes]

    def outcome_unit(self, name: str) -> str:
        """Unit of an objective or declared outcome."""
        for o in self.objectives:
            if o.name == name:
                return o.unit
        return dict(self.outcomes).get(name, "-")

    @property
    def hash(self) -> str:
        """Content hash (12 hex digits) of the canonical JSON of the definition."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignDefinition:
        """Build and validate a definition from the dict form of the TOML file.

        Raises:
            DefinitionError: Naming the key, the value and what is expected.
        """
        if not isinstance(data, Mapping):
            raise DefinitionError(
                f"A campaign definition must be a table; got {data!r}."
            )
        _check_keys(data, _TOP_KEYS, "the campaign definition")
        for key in ("name", "parameters", "objectives"):
            if key not in data:
                raise DefinitionError(f"The campaign definition lacks the key {key!r}.")
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise DefinitionError(
                f"Definition schema version {version!r} is not supported; "
                f"this li2s-doe reads version {SCHEMA_VERSION}."
            )
        params = _as_list(data["parameters"], "parameters")
        objs = _as_list(data["objectives"], "objectives")
        limits = _as_list(data.get("limits", []), "limits")
        outcomes = data.get("outcomes", {})
        try:
            gp = file_options(data.get("gp", {}))
        except InvalidArgumentError as exc:
            raise DefinitionError(str(exc)) from exc
        if not isinstance(outcomes, Mapping):
            raise DefinitionError(
                f"[outcomes] must map outcome names to units; got {outcomes!r}."
            )
        space = SearchSpace(
            tuple(
                _build(Parameter, p, _PARAM_KEYS, f"parameters[{i}]")
                for i, p in enumerate(params)
            )
        )
        return cls(
            name=data["name"],
            description=str(data.get("description", "")),
            space=space,
            objectives=tuple(
                _build(Objective, o, _OBJ_KEYS, f"objectives[{i}]")
                for i, o in enumerate(objs)
            ),
            limits=tuple(
                _build(OutcomeLimit, lim, _LIMIT_KEYS, f"limits[{i}]")
                for i, lim in enumerate(limits)
            ),
            initial_design=data.get("initial_design"),
            strategy=data.get("strategy", "gp"),
            seed=data.get("seed", 0),
            suggestion_ttl_days=data.get("suggestion_ttl_days", 14.0),
            tracking=bool(data.get("tracking", True)),
            outcomes=tuple((str(k), str(v)) for k, v in outcomes.items()),
            gp=tuple(gp.items()),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> CampaignDefinition:
        """Read and validate a TOML definition file.

        Raises:
            DefinitionError: The file is missing, not valid TOML, or invalid.
        """
        path = Path(path)
        if not path.is_file():
            raise DefinitionError(f"Campaign file {str(path)!r} does not exist.")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise DefinitionError(f"{path} is not valid TOML: {exc}.") from exc
        try:
            return cls.from_dict(data)
        except DefinitionError as exc:
            raise DefinitionError(f"{path}: {exc}") from exc

    @classmethod
    def coerce(
        cls, source: CampaignDefinition | Mapping[str, Any] | str | Path
    ) -> CampaignDefinition:
        """Accept a definition, its dict form, or a TOML path."""
        if isinstance(source, CampaignDefinition):
            return source
        if isinstance(source, Mapping):
            return cls.from_dict(source)
        return cls.from_toml(source)

    def to_dict(self) -> dict[str, Any]:
        """The dict form (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "parameters": self.space.to_list(),
            "objectives": [o.to_dict() for o in self.objectives],
            "limits": [lim.to_dict() for lim in self.limits],
            "strategy": self.strategy,
            "seed": self.seed,
            "suggestion_ttl_days": self.suggestion_ttl_days,
            "tracking": self.tracking,
            "outcomes": dict(self.outcomes),
        }
        if self.initial_design is not None:
            out["initial_design"] = self.initial_design
        if self.gp:  # absent when empty: older campaigns keep their hash
            out["gp"] = table_of(self.gp_options)
        return out

    def to_json(self) -> str:
        """Canonical JSON."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CampaignDefinition:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def check_compatible(self, new: CampaignDefinition) -> None:
        """Raise if ``new`` would change what this campaign's data mean.

        The campaign name, the knobs (names, order, units, log scale, grid step)
        and the objectives (names, order, directions, units) must stay. Knob
        bounds may move (whether every trial still fits is the campaign's check,
        :meth:`doe.campaign.Campaign.update_definition`), but a grid knob's low
        only by whole steps; descriptions, thresholds, noise levels, valid ranges,
        limits, outcomes, strategy and the other settings may change.

        Raises:
            IncompatibleDefinitionError: Naming what changed and the fix.
        """
        where = f"Campaign {self.name!r}"
        fix = "start a new campaign (`doe init`) to change it"
        if new.name != self.name:
            raise IncompatibleDefinitionError(
                f"{where} cannot be renamed to {new.name!r}; keep name = "
                f"{self.name!r}, or {fix}."
            )
        old_p = [(p.name, p.unit, p.log, p.step) for p in self.space.parameters]
        new_p = [(p.name, p.unit, p.log, p.step) for p in new.space.parameters]
        if old_p != new_p:
            raise IncompatibleDefinitionError(
                f"{where}: the knobs differ from the stored ones in name, order, unit, "
                f"log scale or step ({_differing(old_p, new_p)}); only a knob's "
                f"bounds and description may change: {fix}."
            )
        for old, now in zip(self.space.parameters, new.space.parameters, strict=True):
            if old.step is not None and not _whole((now.low - old.low) / old.step):
                raise IncompatibleDefinitionError(
                    f"{where}: knob {old.name!r} moves its low from {old.low:g} to "
                    f"{now.low:g} {old.unit}, off its grid of step {old.step:g}; move "
                    "it by whole steps so that the settings tried stay on the grid."
                )
        old_o = [(o.name, o.direction, o.unit) for o in self.objectives]
        new_o = [(o.name, o.direction, o.unit) for o in new.objectives]
        if old_o != new_o:
            raise IncompatibleDefinitionError(
                f"{where}: the objectives differ from the stored ones in name, order, "
                f"direction or unit ({_differing(old_o, new_o)}): {fix}."
            )


@dataclass(frozen=True)
class DefinitionChange:
    """One difference between two definitions.

    Attributes:
        field: Where, e.g. ``"parameters.nitridation_temp_c.high"`` (tables of a
            list by their name; a limit by name and operator).
        old: The value before (``None``: absent).
        new: The value after (``None``: removed).
    """

    field: str
    old: Any
    new: Any

    @override
    def __str__(self) -> str:
        return f"{self.field}: {_shown(self.old)} -> {_shown(self.new)}"


def definition_changes(
    old: CampaignDefinition, new: CampaignDefinition
) -> list[DefinitionChange]:
    """Every field that differs between ``old`` and ``new``, in file order."""
    a, b = _flat(old.to_dict()), _flat(new.to_dict())
    sections = list(dict.fromkeys(k.split(".")[0] for k in [*b, *a]))
    place = {k: i for i, k in enumerate(b)} | {
        k: len(b) + i for i, k in enumerate(a) if k not in b
    }  # removed fields after the others of their section
    keys = sorted(place, key=lambda k: (sections.index(k.split(".")[0]), place[k]))
    return [
        DefinitionChange(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)
    ]


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}``; a list of named tables is keyed by the names."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, Mapping) and "name" in v for v in value)
    ):
        out = {}
        for v in value:
            if set(v) == {"name", "op", "value"}:  # a limit: "limits.safety_score >="
                out[f"{prefix}{v['name']} {v['op']}"] = v["value"]
            else:
                rest = {k: x for k, x in v.items() if k != "name"}
                out |= _flat(rest, f"{prefix}{v['name']}.")
        return out
    return {prefix.rstrip("."): value}


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-9


def _differing(old: list[Any], new: list[Any]) -> str:
    """The first differing entries, for a message."""
    for a, b in zip(old, new, strict=False):
        if a != b:
            return f"{a} -> {b}"
    return f"{len(old)} -> {len(new)} entries"


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise DefinitionError(
            f"{key!r} must be a list of tables ([[{key}]]); got {value!r}."
        )
    return value
