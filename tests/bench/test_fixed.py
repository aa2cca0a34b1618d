"""The fixed-synthesis benchmark (fast settings; the full table runs in make bench-fixed)."""

from __future__ import annotations

import pytest

from bench.fixed import _held_definition, run_one
from doe.definition import CampaignDefinition
from tests.conftest import CELL_TOML

SHELF = {"co_precursor_g": 0.4, "nitridation_temp_c": 550.0}  # 550: the upper bound


def test_the_held_definition_shrinks_only_the_fixed_knobs() -> None:
    d = CampaignDefinition.from_toml(CELL_TOML)
    held = _held_definition(d, SHELF)
    co, temp = held.space["co_precursor_g"], held.space["nitridation_temp_c"]
    assert co.low == 0.4 and co.high == pytest.approx(0.4, abs=1e-8)
    assert temp.high == 550.0 and temp.low == pytest.approx(550.0, abs=1e-6)
    assert held.space["np_ratio"] == d.space["np_ratio"]
    assert held.objectives == d.objectives and held.limits == d.limits


def test_a_run_holds_the_synthesis_and_scores_against_its_own_front() -> None:
    row = run_one("sobol", 0, SHELF, 6, 3, 2)
    assert row["synthesis"] == SHELF and row["strategy"] == "sobol"
    assert 0.0 <= row["fraction"] <= 1.0
    assert 0.3 < row["best"] <= 1.0  # the best 3 settings at this synthesis
