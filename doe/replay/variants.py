"""Strategy variants in a replay: ``gp[tail_floor=0.05,trust_length=off]``.

A replay sweep compares strategies; a lab choosing *settings* wants the same table
for variants of one strategy. A variant is a strategy name with settings in square
brackets, the keys of a campaign file's ``[gp]`` table
(`doe.strategy_settings.FILE_KEYS`); they override the campaign file's table for
that variant only. Values are read as TOML values (``0.05``, ``true``, ``"x"``),
or taken as a bare word (``constant``, ``off``).

The label (the variant's name in tables, plots, files and MLflow) is canonical:
settings sorted by key, so ``gp[b=1,a=2]`` and ``gp[a=2, b=1]`` are one variant.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from doe.definition import STRATEGY_NAMES
from doe.exceptions import DoeError, InvalidArgumentError
from doe.strategy_settings import FILE_KEYS, file_options

__all__ = ["StrategyVariant", "parse_strategy", "split_strategies"]

_SPEC = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\[(.*)\])?\s*$", re.DOTALL)
TUNABLE = ("gp",)  # strategies whose settings a variant may set


@dataclass(frozen=True)
class StrategyVariant:
    """A strategy and the settings it runs with.

    Attributes:
        name: The strategy, one of ``STRATEGY_NAMES``.
        options: Settings as ``(key, value)`` pairs sorted by key (empty for the
            campaign file's own settings).
    """

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``name`` or ``name[key=value,...]``: how tables and plots show it."""
        if not self.options:
            return self.name
        return f"{self.name}[{','.join(f'{k}={_text(v)}' for k, v in self.options)}]"

    @property
    def slug(self) -> str:
        """A file- and campaign-name-safe form of the label (lowercase)."""
        if not self.options:
            return self.name
        digest = hashlib.sha256(self.label.encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"

    @property
    def gp_options(self) -> dict[str, Any]:
        """The settings as keyword arguments of `GPSettings`."""
        return dict(self.options)


def _text(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value(raw: str) -> Any:
    text = raw.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_strategy(spec: str) -> StrategyVariant:
    """Read ``name`` or ``name[key=value,...]``.

    Raises:
        DoeError: Naming the spec, what is wrong and the fix: an unknown
            strategy, settings for a strategy that takes none, a malformed
            ``key=value``, an unknown key or a bad value.
    """
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise DoeError(
            f"Strategy {spec!r} is not a strategy name or name[key=value,...], "
            f"e.g. gp or gp[tail_floor=0.05]."
        )
    name, body = match.group(1), match.group(2)
    if name not in STRATEGY_NAMES:
        raise DoeError(
            f"Unknown strategy {name!r} in {spec!r}; choose from "
            f"{', '.join(STRATEGY_NAMES)}."
        )
    if body is None:
        return StrategyVariant(name)
    if name not in TUNABLE:
        raise DoeError(
            f"Strategy {spec!r}: only {', '.join(TUNABLE)} takes settings in "
            f"brackets; write {name} alone."
        )
    table: dict[str, Any] = {}
    for item in (i for i in body.split(",") if i.strip()):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise DoeError(
                f"Strategy {spec!r}: {item.strip()!r} is not key=value "
                f"(keys: {', '.join(FILE_KEYS)})."
            )
        if key in table:
            raise DoeError(f"Strategy {spec!r} sets {key!r} twice.")
        table[key] = _value(raw)
    if not table:
        raise DoeError(
            f"Strategy {spec!r} has empty brackets; give key=value settings or "
            f"write {name} alone."
        )
    try:
        options = file_options(table, where=f"strategy {spec!r}", complete=False)
    except InvalidArgumentError as exc:
        raise DoeError(str(exc)) from exc
    return StrategyVariant(name, tuple(sorted(options.items())))


def split_strategies(text: str) -> list[str]:
    """Split a comma-separated list, keeping commas inside square brackets.

    ``"gp,gp[tail_floor=0.05,mean=constant],tpe"`` gives three items.

    Raises:
        DoeError: Unbalanced brackets.
    """
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                break
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise DoeError(
            f"Strategies {text!r} have unbalanced square brackets; write e.g. "
            "gp,gp[tail_floor=0.05,mean=constant]."
        )
    items.append("".join(current).strip())
    return [i for i in items if i]
