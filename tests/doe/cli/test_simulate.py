"""`doe simulate`: the simulated cell from the command line (no storage needed)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from campaigns.li2s_si import NOMINAL, SimulatedCell
from doe.cli import app


def _json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["simulate", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_simulate_without_noise_matches_the_cell_and_marks_nominal_knobs() -> None:
    doc = _json("li2s_loading_mg_cm2=2.5", "--no-noise")
    settings = dict(NOMINAL, li2s_loading_mg_cm2=2.5)
    expected = SimulatedCell(noise=False).evaluate(settings)
    assert doc["settings"] == settings
    assert "li2s_loading_mg_cm2" not in doc["nominal"] and "np_ratio" in doc["nominal"]
    assert doc["noise"] is False and doc["seed"] is None and doc["failed"] is False
    for name in ("specific_energy_wh_kg", "retention_pct", "safety_score"):
        assert doc["outcomes"][name] == pytest.approx(expected[name])
    assert doc["conditions"] == {"temperature_c": 30.0, "c_rate": 0.2, "cycles": 500}


def test_simulate_conditions_and_seed_are_reproducible() -> None:
    a = _json(
        "np_ratio=1.4", "--temperature-c", "-20", "--c-rate", "0.5", "--seed", "7"
    )
    b = _json(
        "np_ratio=1.4", "--temperature-c", "-20", "--c-rate", "0.5", "--seed", "7"
    )
    assert a == b and a["seed"] == 7
    cell = SimulatedCell(7, noise=True)
    out = cell.evaluate(dict(NOMINAL, np_ratio=1.4), temperature_c=-20.0, c_rate=0.5)
    assert a["outcomes"]["initial_capacity_mah_g"] == pytest.approx(
        out["initial_capacity_mah_g"]
    )


def test_simulate_table() -> None:
    result = CliRunner().invoke(app, ["simulate", "eo_li_ratio=12", "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("eo_li_ratio", "mol/mol", "nominal", "specific_energy_wh_kg", "Wh/kg"):
        assert text in out
    assert "seed 1" in out
