"""Tests of doe.replay; tiny generic simulators that are not the cell.

The simulators are found by path (``tests.doe.replay:ToyLab``), as the replay finds
any simulator, so they also load in worker processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SIMULATOR_VERSION = "toy-1"

TOY_TOML = """
name = "toy-lab"
description = "two knobs, two objectives, one limit"
initial_design = 4
seed = 0

[[parameters]]
name = "temp_c"
low = 20.0
high = 80.0
unit = "C"

[[parameters]]
name = "conc_mol_l"
low = 0.01
high = 1.0
unit = "mol/L"
log = true

[[objectives]]
name = "yield_pct"
direction = "maximize"
unit = "%"
threshold = 0.0

[[objectives]]
name = "cost_eur"
direction = "minimize"
unit = "EUR"
threshold = 10.0

[[limits]]
name = "purity_pct"
op = ">="
value = 90.0

[outcomes]
purity_pct = "%"
"""


def write_toy_toml(folder: Path) -> Path:
    """The toy campaign's definition as a file."""
    path = folder / "toy.toml"
    path.write_text(TOY_TOML, encoding="utf-8")
    return path


def toy_options(toy_file: Path, out: Path, **kwargs: Any) -> dict[str, Any]:
    """Options of a small sweep of the toy lab (8 experiments, 2 seeds, sobol and
    random, one job, no tracking), ``kwargs`` on top."""
    options: dict[str, Any] = {
        "campaign_file": toy_file,
        "budget": 8,
        "batch": 2,
        "channels": 4,
        "seeds": 2,
        "strategies": ["sobol", "random"],
        "out": out,
        "jobs": 1,
        "tracking": False,
        "dense_points": 256,
    }
    options.update(kwargs)
    return options


def toy_sweep(toy_file: Path, out: Path, **kwargs: Any) -> Any:
    """A small sweep of the toy lab (:func:`toy_options`)."""
    from doe.replay import run_sweep

    return run_sweep("tests.doe.replay:ToyLab", **toy_options(toy_file, out, **kwargs))


def toy_truth(temp_c: float, conc_mol_l: float) -> dict[str, float]:
    """A smooth toy lab: yield peaks at 60 C, cost grows with concentration."""
    return {
        "yield_pct": 100.0
        * (1 - ((temp_c - 60.0) / 60.0) ** 2)
        * (conc_mol_l / (conc_mol_l + 0.1)),
        "cost_eur": 1.0 + 8.0 * conc_mol_l,
        "purity_pct": 99.0 - 0.5 * abs(temp_c - 50.0),
    }


class ToyLab:
    """A 2-knob simulator with a duration that depends on the settings.

    Counts its ``evaluate`` calls (per class), so tests can tell what was run.
    """

    calls = 0

    def __init__(self, seed: int | None = None, *, noise: bool = True) -> None:
        self.noise = noise
        self.rng = np.random.default_rng(seed)

    def evaluate(self, settings: dict[str, float]) -> dict[str, Any]:
        type(self).calls += 1
        out: dict[str, Any] = toy_truth(settings["temp_c"], settings["conc_mol_l"])
        if self.noise:
            out = {k: v + self.rng.normal(0.0, 0.5) for k, v in out.items()}
            out["failed"] = bool(self.rng.random() < 0.1)
            out["failure_kind"] = "build_failed" if out["failed"] else None
        out["duration_h"] = 24.0 + 100.0 * settings["conc_mol_l"] + settings["temp_c"]
        out["not_an_outcome"] = "ignored"
        return out


class SeedOnlyLab:
    """A simulator whose constructor takes only ``seed`` and gives no duration."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def evaluate(self, settings: dict[str, float]) -> dict[str, float]:
        out = toy_truth(settings["temp_c"], settings["conc_mol_l"])
        return {k: v + self.rng.normal(0.0, 0.1) for k, v in out.items()}
