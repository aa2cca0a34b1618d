"""Offline replays: campaigns against simulated cells in a simulated lab.

A replay runs one campaign (a strategy and a seed) against a simulator with ``k``
test channels and experiments of different durations; a sweep runs many seeds and
strategies in parallel and reports the true hypervolume reached against
experiments and lab days. Heavy libraries load on first use.

Example:
    >>> from doe.replay import run_sweep
    >>> result = run_sweep("li2s_si", budget=20, seeds=3, strategies=["gp", "sobol"])  # doctest: +SKIP
    >>> result.summary  # doctest: +SKIP

Variants of the ``gp`` strategy compare settings in the same table:
``strategies=["gp", "gp[tail_floor=0.05,trust_length=off]"]``; lab setups (batch
sizes x test channels) too: ``run_setups("li2s_si", batches=[1, 4, 8], channels=[8])``.
"""

from __future__ import annotations

from doe.replay.lab import HOURS_PER_DAY, LabExperiment, SimulatedLab
from doe.replay.report import plot_trajectories, summarize
from doe.replay.runner import (
    TRAJECTORY_COLUMNS,
    Ask,
    ReplayConfig,
    ReplayResult,
    run_replay,
)
from doe.replay.setups import LabSetup, SetupsResult, lab_setups, run_setups
from doe.replay.simulator import (
    SHORT_NAMES,
    Outcome,
    SimulatorError,
    SimulatorSpec,
    resolve_simulator,
)
from doe.replay.sweep import (
    DEFAULT_BUDGETS,
    SweepProgress,
    SweepResult,
    SweepSettingsError,
    run_sweep,
)
from doe.replay.truth import TrueFront, cache_dir, true_front
from doe.replay.variants import StrategyVariant, parse_strategy, split_strategies

__all__ = [
    "DEFAULT_BUDGETS",
    "HOURS_PER_DAY",
    "SHORT_NAMES",
    "TRAJECTORY_COLUMNS",
    "Ask",
    "LabExperiment",
    "LabSetup",
    "Outcome",
    "ReplayConfig",
    "ReplayResult",
    "SetupsResult",
    "SimulatedLab",
    "SimulatorError",
    "SimulatorSpec",
    "StrategyVariant",
    "SweepProgress",
    "SweepResult",
    "SweepSettingsError",
    "TrueFront",
    "cache_dir",
    "lab_setups",
    "parse_strategy",
    "plot_trajectories",
    "resolve_simulator",
    "run_replay",
    "run_setups",
    "run_sweep",
    "split_strategies",
    "summarize",
    "true_front",
]
