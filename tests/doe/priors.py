"""Expectation functions for the toy campaign's ``[gp] prior`` (found by path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def toy_expected(settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The toy lab's cost exactly, and a rough yield (peak at 55 C, not 60)."""
    t = np.asarray(settings["temp_c"], dtype=float)
    c = np.asarray(settings["conc_mol_l"], dtype=float)
    return {
        "cost_eur": 1.0 + 8.0 * c,
        "yield_pct": 90.0 * (1 - ((t - 55.0) / 60.0) ** 2) * (c / (c + 0.1)),
    }


def unknown_outcome(settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {"power_w": np.ones_like(np.asarray(settings["temp_c"], dtype=float))}


def short(settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {"cost_eur": np.zeros(1)}


def not_a_dict(settings: Mapping[str, Any]) -> list[float]:
    return [1.0]


def only_recorded(settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """An outcome the campaign records but does not model (no limit on it)."""
    return {"purity_pct": np.full(len(np.asarray(settings["temp_c"])), 95.0)}


def cost_only(settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """An expectation of one of the toy campaign's two objectives."""
    c = np.asarray(settings["conc_mol_l"], dtype=float)
    return {"cost_eur": 1.0 + 8.0 * c}
