"""The deterministic core reproduces the seed paper's rows of calibration.csv."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import campaigns.li2s_si
from campaigns.li2s_si import NOMINAL, SimulatedCell

CSV_PATH = Path(campaigns.li2s_si.__file__).parent / "calibration.csv"
TOLERANCE = 0.05
ROOM_TEMPERATURE_C = 25.0  # the paper's room-temperature rows ...
MODEL_REFERENCE_C = 30.0  # ... map to the model's reference temperature


def _rows() -> dict[str, dict[str, str]]:
    with CSV_PATH.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


ROWS = _rows()
Cell = SimulatedCell(seed=0, noise=False)


def _run(row: dict[str, str], cycles: int = 500) -> dict[str, Any]:
    """Evaluate the nominal recipe at the row's loading, rate and temperature."""
    temperature = float(row["temperature_c"])
    if temperature == ROOM_TEMPERATURE_C:
        temperature = MODEL_REFERENCE_C
    settings = {**NOMINAL, "li2s_loading_mg_cm2": float(row["li2s_loading_mg_cm2"])}
    return Cell.evaluate(
        settings, temperature_c=temperature, c_rate=float(row["c_rate"]), cycles=cycles
    )


def _capacity(row: dict[str, str]) -> float:
    """Discharge capacity at the row's cycle (cycle 1 when the row has none)."""
    cycle = int(row["cycle"]) if row["cycle"] else 1
    return float(_run(row)["capacity_mah_g"][cycle - 1])


def _fig4g_scale() -> float:
    """Fig 4f/4g cells sit below the Fig 4c cell: 770.9 / 827 = 0.932 at 30 C."""
    return float(ROWS["P27"]["value"]) / float(ROWS["P19"]["value"])


def _scaled_capacity(row: dict[str, str]) -> float:
    return _fig4g_scale() * _capacity(row)


def _output(key: str) -> Callable[[dict[str, str]], float]:
    return lambda row: float(_run(row)[key])


MODELLED: dict[str, Callable[[dict[str, str]], float]] = {
    "P19": _capacity,  # first discharge, 1.0 mg/cm2, 0.2C
    "P20": _capacity,  # cycle 100
    "P21": _capacity,  # cycle 100 at 2.5 mg/cm2
    "P22": _capacity,  # 0.5C (rate term [A])
    "P23": _capacity,  # 2.0C (rate term [A])
    "P24": _output("specific_energy_active_wh_kg"),
    "P25": _output("specific_energy_electrode_wh_kg"),
    "P26": _scaled_capacity,  # -20 C
    "P27": _scaled_capacity,  # 30 C (matches by construction of the scale)
    "P28": _scaled_capacity,  # 60 C
    "P29": _scaled_capacity,  # 60 C, 2.0C
    "P30": _scaled_capacity,  # -20 C, 2.0C
    "P31": _output("self_discharge_pct"),
}

# Figures the paper gives only in a row's note: (row, regex, model output key).
NOTES: dict[str, tuple[str, str, str]] = {
    "P20-retention": ("P20", r"retention (?:about )?([\d.]+)%", "retention_pct"),
    "P21-retention": ("P21", r"retention (?:about )?([\d.]+)%", "retention_pct"),
    "P21-CE": ("P21", r"; CE ([\d.]+)%", "coulombic_efficiency_pct"),
}


def test_csv_is_the_full_paper_table() -> None:
    assert len(ROWS) == 35
    assert set(MODELLED) <= set(ROWS)


@pytest.mark.parametrize("row_id", sorted(MODELLED))
def test_row_within_five_percent(row_id: str) -> None:
    row = ROWS[row_id]
    paper = float(row["value"])
    model = MODELLED[row_id](row)
    assert abs(model / paper - 1.0) < TOLERANCE, f"{row_id}: model {model:.1f}"


@pytest.mark.parametrize("note_id", sorted(NOTES))
def test_note_figure_within_five_percent(note_id: str) -> None:
    row_id, pattern, key = NOTES[note_id]
    match = re.search(pattern, ROWS[row_id]["note"])
    assert match is not None, f"{row_id} note changed: {ROWS[row_id]['note']!r}"
    paper = float(match.group(1))
    model = float(_run(ROWS[row_id])[key])
    assert abs(model / paper - 1.0) < TOLERANCE, f"{note_id}: model {model:.2f}"


@pytest.mark.parametrize("row_id", ["P33", "P34", "P35"])
def test_abuse_rows_no_thermal_runaway(row_id: str) -> None:
    """Nail, short and heat: the nominal cell stays below EUCAR level 4 (venting)."""
    test = {
        "safety_nail_penetration": "nail",
        "safety_external_short": "short",
        "safety_overheating": "heat",
    }[ROWS[row_id]["metric"]]
    levels = Cell.evaluate(NOMINAL)["eucar_levels"]
    assert levels[test] < 3.0


def test_temperature_ratios_match_fig4g() -> None:
    """The ratio form of P26-P28: Q(T)/Q(30 C) against the paper's ratios."""
    reference = float(ROWS["P27"]["value"])
    for row_id in ("P26", "P28"):
        paper = float(ROWS[row_id]["value"]) / reference
        model = _capacity(ROWS[row_id]) / _capacity(ROWS["P27"])
        assert np.isclose(model, paper, rtol=TOLERANCE)
