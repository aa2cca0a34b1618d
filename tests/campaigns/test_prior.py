"""The lab's expectation of the cell (campaigns.li2s_si.prior) against CELL.md."""

from __future__ import annotations

import numpy as np
import pytest

from campaigns.li2s_si.cell import SimulatedCell
from campaigns.li2s_si.prior import (
    areal_energy_mwh_cm2,
    electrode_energy_wh_kg,
    expected,
    retention_pct,
    safety_score,
    specific_energy_wh_kg,
)


def test_the_mass_balance_reproduces_the_published_nominal_cell() -> None:
    # CELL.md: 827 x 1.55 / 2.5 = 513 Wh/kg per electrode mass, 1.5 % above the 506
    assert electrode_energy_wh_kg(1.0, 1.2) == pytest.approx(513, rel=0.002)
    assert electrode_energy_wh_kg(1.0, 1.2) == pytest.approx(506, rel=0.015)
    nominal = dict(
        co_precursor_g=0.4,
        nitridation_temp_c=400.0,
        li2s_loading_mg_cm2=1.0,
        eo_li_ratio=20.0,
        np_ratio=1.2,
    )
    cell = SimulatedCell(noise=False).evaluate(nominal)["specific_energy_wh_kg"]
    assert specific_energy_wh_kg(1.0, 1.2) == pytest.approx(cell, rel=0.01)


def test_the_expectation_has_the_directions_the_paper_states() -> None:
    np_ratio = np.array([0.9, 1.0, 1.2, 1.5, 2.0])
    energy = specific_energy_wh_kg(3.0, np_ratio)
    assert energy[1] > energy[0]  # below N/P 1 the anode caps the capacity
    assert np.all(np.diff(energy[1:]) < 0)  # more Si is more dead mass
    # more loading spreads the inactive mass over more Li2S, but uses less of it:
    # the full cells' 827 -> 689 mAh/g from 1.0 to 2.5 mg/cm2 puts the peak between
    # 2 and 4 mg/cm2
    loading = np.linspace(0.5, 8.0, 76)
    energy = specific_energy_wh_kg(loading, 1.2)
    assert 2.0 < loading[np.argmax(energy)] < 4.0
    assert np.all(np.diff(energy[loading < 2.0]) > 0)
    assert np.all(np.diff(energy[loading > 4.0]) < 0)


def test_utilisation_follows_the_published_full_cells() -> None:
    # calibration.csv P19 and P21: 827 mAh/g at 1.0 mg/cm2, about 689 at 2.5
    cell = specific_energy_wh_kg(np.array([1.0, 2.5]), 1.2)
    electrodes = 1.0 / 0.65 + 0.5 * 1.2 / 0.624
    capacity = cell * (np.array([1.0, 2.5]) * electrodes + 4.0) / np.array([1.0, 2.5])
    assert capacity / 1.55 == pytest.approx([827.0, 689.0], rel=1e-9)


def test_expected_takes_arrays_of_settings() -> None:
    out = expected(
        {
            "li2s_loading_mg_cm2": np.array([1.0, 3.24]),
            "np_ratio": np.array([1.2, 1.19]),
            "co_precursor_g": np.array([0.4, 0.57]),
        }
    )
    assert set(out) == {"specific_energy_wh_kg", "retention_pct", "safety_score"}
    for values in out.values():
        assert values.shape == (2,) and np.all(np.isfinite(values))


def test_plating_below_np_1_costs_retention_and_safety() -> None:
    # CELL.md: the published cell keeps 67.7-68.5 % and passes the abuse tests
    assert retention_pct(1.2) == pytest.approx(68.0, abs=0.1)
    assert safety_score(1.2) == pytest.approx(80.0, abs=0.1)
    # "too little Si (N/P < 1) plates lithium, which costs retention and safety"
    assert retention_pct(0.9) < 5.0 and safety_score(0.9) < 52.0
    assert retention_pct(1.0) == pytest.approx(34.0) and safety_score(1.0) == 65.0
    np_ratio = np.linspace(0.9, 2.0, 12)
    assert np.all(np.diff(retention_pct(np_ratio)) >= 0)
    assert np.all(np.diff(safety_score(np_ratio)) >= 0)


def test_cells_that_store_more_energy_per_area_are_expected_less_safe() -> None:
    # the published cell: 827 mAh/g x 1.55 V x 1.0 mg/cm2 = 1.28 mWh/cm2, a score of 80
    assert areal_energy_mwh_cm2(1.0, 1.2) == pytest.approx(1.282, abs=0.001)
    assert safety_score(1.2, loading=1.0) == pytest.approx(80.0, abs=0.1)
    loading = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 8.0])
    stored = areal_energy_mwh_cm2(loading, 1.2)
    assert np.all(np.diff(stored) > 0)  # a thicker cathode stores more, at fewer mAh/g
    score = safety_score(1.2, loading=loading)
    assert np.all(np.diff(score) < 0)
    # 4 points per further 1.28 mWh/cm2
    published = safety_score(1.2, loading=1.0)
    assert score == pytest.approx(published - 4.0 * (stored / 1.282 - 1.0), abs=0.01)
    from_settings = expected(
        {"li2s_loading_mg_cm2": loading, "np_ratio": np.full(6, 1.2)}
    )["safety_score"]
    assert from_settings == pytest.approx(score)
