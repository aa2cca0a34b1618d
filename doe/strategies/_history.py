"""What a strategy sees: the campaign's data so far, as plain arrays."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from doe.definition import CampaignDefinition

__all__ = ["History", "Proposal", "fixed_info", "pin"]


def pin(
    params: dict[str, float], fixed: Mapping[str, float] | None
) -> dict[str, float]:
    """``params`` with the fixed knobs at exactly their values (no round trip)."""
    return {**params, **(fixed or {})}


def fixed_info(
    info: dict[str, Any], fixed: Mapping[str, float] | None
) -> dict[str, Any]:
    """``info`` with ``fixed`` (the knobs the lab held) recorded, when any."""
    return {**info, "fixed": dict(fixed)} if fixed else info


@dataclass(frozen=True)
class Proposal:
    """One proposed configuration and why it was chosen.

    Attributes:
        params: Settings in natural units.
        info: Provenance: ``strategy``, ``reason``, ``model_version``, ``data_hash``,
            ``acq_value``, ``predicted`` (``{outcome: [mean, std]}``), timings.
    """

    params: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class History:
    """The campaign's trials, as a strategy needs them.

    Attributes:
        definition: The campaign definition.
        complete: ``(params, outcomes, attrs)`` of measured experiments.
        failed: ``(params, attrs)`` of failed experiments (abandoned ones excluded).
        pending: ``(params, attrs)`` of suggestions not yet measured.
        n_total: Number of trials ever made (abandoned included): the position in
            any space-filling sequence, so that new points never repeat old ones.
    """

    definition: CampaignDefinition
    complete: tuple[tuple[dict[str, float], dict[str, float], dict[str, Any]], ...] = ()
    failed: tuple[tuple[dict[str, float], dict[str, Any]], ...] = ()
    pending: tuple[tuple[dict[str, float], dict[str, Any]], ...] = ()
    n_total: int = 0

    @property
    def n_complete(self) -> int:
        """Number of measured experiments."""
        return len(self.complete)

    def X(self, which: str) -> np.ndarray:
        """Unit-cube inputs of ``complete``, ``failed`` or ``pending`` trials."""
        space = self.definition.space
        rows: Sequence[Mapping[str, float]] = [t[0] for t in getattr(self, which)]
        return space.encode(list(rows)) if rows else np.zeros((0, space.dim))

    def Y(self, names: Sequence[str]) -> np.ndarray:
        """`n x m` outcomes of complete trials in natural units (NaN: not measured)."""
        return np.array(
            [[float(t[1].get(n, np.nan)) for n in names] for t in self.complete],
            dtype=float,
        ).reshape(len(self.complete), len(names))

    def with_pending(self, proposals: Sequence[Proposal]) -> History:
        """This history with ``proposals`` added as pending (a batch in the making)."""
        added = tuple((dict(p.params), {"provenance": dict(p.info)}) for p in proposals)
        return replace(
            self, pending=self.pending + added, n_total=self.n_total + len(added)
        )

    def data_hash(self) -> str:
        """Hash (12 hex digits) of the measured data and failures the model sees."""
        blob = json.dumps(
            {
                "complete": [[t[0], t[1]] for t in self.complete],
                "failed": [t[0] for t in self.failed],
            },
            sort_keys=True,
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
