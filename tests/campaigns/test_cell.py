"""Contract, determinism, physics directions and noise of the simulated cell."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest import param

from campaigns.li2s_si import (
    FAILURE_KINDS,
    KNOB_NAMES,
    KNOBS,
    NOMINAL,
    OUTCOMES,
    SIMULATOR_VERSION,
    WARNING_MESSAGES,
    CellInputError,
    Knob,
    SimulatedCell,
)

SCALAR_KEYS = (
    "initial_capacity_mah_g",
    "capacity_100_mah_g",
    "retention_pct",
    "coulombic_efficiency_pct",
    "average_voltage_v",
    "specific_energy_wh_kg",
    "specific_energy_active_wh_kg",
    "specific_energy_electrode_wh_kg",
    "self_discharge_pct",
    "safety_score",
    "duration_h",
    "areal_capacity_mah_cm2",
)


@pytest.fixture(name="core")
def fixture_core() -> SimulatedCell:
    return SimulatedCell(seed=0, noise=False)


def _recipe(**changes: float) -> dict[str, float]:
    return {**NOMINAL, **changes}


def _many(n_cells: int, **changes: float) -> dict[str, np.ndarray]:
    return {k: np.full(n_cells, v) for k, v in _recipe(**changes).items()}


knob_values = st.fixed_dictionaries(
    {
        k.name: st.floats(k.low, k.high, allow_nan=False, allow_infinity=False)
        for k in KNOBS
    }
)


# Contract -------------------------------------------------------------------------
def test_knobs_match_the_cell_table() -> None:
    expected = {
        "co_precursor_g": ("g", 0.4, 0.05, 1.0),
        "nitridation_temp_c": ("C", 400.0, 300.0, 550.0),
        "li2s_loading_mg_cm2": ("mg/cm2", 1.0, 0.5, 8.0),
        "eo_li_ratio": ("mol/mol", 20.0, 6.0, 40.0),
        "np_ratio": ("-", 1.2, 0.9, 2.0),
    }
    assert all(isinstance(k, Knob) for k in KNOBS)
    assert {k.name: (k.unit, k.nominal, k.low, k.high) for k in KNOBS} == expected
    assert NOMINAL == {name: v[1] for name, v in expected.items()}
    assert KNOB_NAMES == tuple(expected)
    assert re.fullmatch(r"li2s_si-\d+\.\d+\.\d+", SIMULATOR_VERSION)


@pytest.mark.parametrize("noise", [False, True], ids=["core", "noisy"])
def test_evaluate_returns_the_contract(noise: bool) -> None:
    out = SimulatedCell(seed=1, noise=noise).evaluate(NOMINAL)
    for key in (*SCALAR_KEYS, "capacity_500_mah_g"):
        assert type(out[key]) is float, key
    assert {o.name for o in OUTCOMES} <= set(out)
    assert all(len(o) == 3 for o in OUTCOMES)
    curve = out["capacity_mah_g"]
    assert isinstance(curve, np.ndarray) and curve.shape == (500,)
    assert out["initial_capacity_mah_g"] == curve[0]
    assert out["retention_pct"] == pytest.approx(100 * curve[99] / curve[0])
    assert set(out["eucar_levels"]) == {"nail", "short", "heat"}
    level_type = int if noise else float
    assert all(type(v) is level_type for v in out["eucar_levels"].values())
    assert 0.0 <= out["safety_score"] <= 100.0
    assert type(out["failed"]) is bool
    assert out["failure_kind"] is None or out["failure_kind"] in FAILURE_KINDS
    assert out["phase"] == "CoN" and out["warnings"] == []


def test_short_test_has_no_cycle_500(core: SimulatedCell) -> None:
    out = core.evaluate(NOMINAL, cycles=100)
    assert out["capacity_mah_g"].shape == (100,) and "capacity_500_mah_g" not in out


def test_duration_counts_synthesis_build_and_100_cycles(core: SimulatedCell) -> None:
    assert core.evaluate(NOMINAL)["duration_h"] == pytest.approx(60 + 24 + 1000)
    fast = core.evaluate(NOMINAL, c_rate=1.0, cycles=300)
    assert fast["duration_h"] == pytest.approx(60 + 24 + 200)
    assert fast["duration_all_cycles_h"] == pytest.approx(60 + 24 + 600)


def test_package_imports_nothing_of_ours_or_heavy() -> None:
    code = (
        "import sys, campaigns.li2s_si; "
        "bad = [m for m in ('doe', 'surrogates', 'torch', 'pandas') "
        "if m in sys.modules]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# Determinism ----------------------------------------------------------------------
def _sequence(seed: int) -> list[dict[str, Any]]:
    cell = SimulatedCell(seed=seed)
    return [cell.evaluate(_recipe(np_ratio=r)) for r in (1.2, 1.0, 1.5)]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(
        np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k]
        for k in a
    )


def test_same_seed_same_sequence() -> None:
    first, second = _sequence(7), _sequence(7)
    assert all(_same(a, b) for a, b in zip(first, second, strict=True))


def test_other_seed_and_next_call_differ() -> None:
    assert (
        _sequence(7)[0]["initial_capacity_mah_g"]
        != (_sequence(8)[0]["initial_capacity_mah_g"])
    )
    cell = SimulatedCell(seed=7)
    one, two = cell.evaluate(NOMINAL), cell.evaluate(NOMINAL)
    assert one["initial_capacity_mah_g"] != two["initial_capacity_mah_g"]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(recipe=knob_values, temperature_c=st.floats(-20, 60), c_rate=st.floats(0.05, 2))
def test_core_is_deterministic_monotone_and_sane(
    recipe: dict[str, float], temperature_c: float, c_rate: float
) -> None:
    runs = [
        SimulatedCell(seed=s, noise=False).evaluate(
            recipe, temperature_c=temperature_c, c_rate=c_rate, cycles=200
        )
        for s in (0, 1)
    ]
    assert _same(*runs)
    out = runs[0]
    assert np.all(np.diff(out["capacity_mah_g"]) <= 0.0)
    assert np.all(np.isfinite(out["capacity_mah_g"])) and out["capacity_mah_g"][-1] > 0
    assert 1.2 < out["average_voltage_v"] < 1.6
    assert 0.0 <= out["safety_score"] <= 100.0 and not out["failed"]
    assert 0.0 < out["coulombic_efficiency_pct"] <= 100.0


# Physics directions (SCIENCE.md) --------------------------------------------------
def test_more_loading_lowers_utilisation(core: SimulatedCell) -> None:
    capacity = [
        core.evaluate(_recipe(li2s_loading_mg_cm2=x))["initial_capacity_mah_g"]
        for x in (0.5, 1.0, 2.5, 5.0, 8.0)
    ]
    assert np.all(np.diff(capacity) < 0)


def test_cell_energy_peaks_inside_the_loading_range(core: SimulatedCell) -> None:
    loading = np.linspace(0.5, 8.0, 76)
    energy = core.evaluate_many(_many(76) | {"li2s_loading_mg_cm2": loading})
    best = loading[np.argmax(energy["specific_energy_wh_kg"])]
    assert 1.5 <= best <= 4.0
    assert np.all(np.diff(energy["specific_energy_active_wh_kg"]) < 0)


def test_plating_below_np_one(core: SimulatedCell) -> None:
    nominal, plating = core.evaluate(NOMINAL), core.evaluate(_recipe(np_ratio=0.9))
    assert any(w.startswith("N/P < 1") for w in plating["warnings"])
    assert plating["safety_score"] < nominal["safety_score"] - 20
    assert plating["retention_pct"] < nominal["retention_pct"] - 20
    assert plating["coulombic_efficiency_pct"] < nominal["coulombic_efficiency_pct"]


def test_more_stored_energy_per_area_is_less_safe(core: SimulatedCell) -> None:
    """The abuse tests scale with the areal energy (SCIENCE.md §8, ``ea``).

    A thicker cathode stores more energy per cm2 even though its mAh/g is lower,
    so its EUCAR levels rise and its score falls; at the nominal 1.0 mg/cm2 the
    score stays the published cell's 81.4.
    """
    loading = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
    out = core.evaluate_many(_many(5) | {"li2s_loading_mg_cm2": loading})
    areal_energy = out["areal_capacity_mah_cm2"] * out["average_voltage_v"]
    assert np.all(np.diff(areal_energy) > 0)
    assert np.all(np.diff(out["safety_score"]) < 0)
    assert out["safety_score"][0] == pytest.approx(81.4, abs=0.1)
    assert out["safety_score"][2] < out["safety_score"][0] - 5.0  # 3 mg/cm2: 75.1


def test_cobalt_nitride_raises_capacity_and_retention(core: SimulatedCell) -> None:
    no_con = core.evaluate(_recipe(co_precursor_g=0.05))
    nominal = core.evaluate(NOMINAL)
    assert no_con["initial_capacity_mah_g"] < 0.9 * nominal["initial_capacity_mah_g"]
    assert no_con["retention_pct"] < nominal["retention_pct"]


def test_nitridation_temperature_has_an_optimum(core: SimulatedCell) -> None:
    capacity = {
        t: core.evaluate(_recipe(nitridation_temp_c=t))["initial_capacity_mah_g"]
        for t in (300.0, 400.0, 550.0)
    }
    assert capacity[300.0] < capacity[400.0] > capacity[550.0]
    assert core.evaluate(_recipe(nitridation_temp_c=520.0))["phase"] == (
        "Co4N/Co3N+CoN"
    )


def test_gel_extremes_cost_capacity(core: SimulatedCell) -> None:
    """EO/Li 6 and 40 lose capacity by cycle 100; 40 already at cycle 1.

    At EO/Li 6 the amorphous, salt-rich gel gives slightly more first-cycle
    capacity (SCIENCE.md §8: EO/Li 8 -> 864) but shuttles and fades faster.
    """
    runs = {x: core.evaluate(_recipe(eo_li_ratio=x)) for x in (6.0, 20.0, 40.0)}
    q100 = {x: r["capacity_100_mah_g"] for x, r in runs.items()}
    assert q100[6.0] < q100[20.0] > q100[40.0]
    assert runs[40.0]["initial_capacity_mah_g"] < runs[20.0]["initial_capacity_mah_g"]
    assert runs[6.0]["retention_pct"] < runs[20.0]["retention_pct"]
    assert runs[6.0]["safety_score"] < runs[20.0]["safety_score"]


def test_temperature_and_rate_directions(core: SimulatedCell) -> None:
    def capacity(**conditions: float) -> float:
        return core.evaluate(NOMINAL, **conditions)["initial_capacity_mah_g"]

    assert capacity(temperature_c=-20) < capacity() < capacity(temperature_c=60)
    assert capacity(c_rate=2.0) < capacity(c_rate=0.5) < capacity()
    hot = core.evaluate(NOMINAL, temperature_c=55.0)
    assert hot["retention_pct"] < core.evaluate(NOMINAL)["retention_pct"]
    assert any("shuttle" in w for w in hot["warnings"])


# Noise ----------------------------------------------------------------------------
def test_capacity_scatter_is_a_few_percent() -> None:
    out = SimulatedCell(seed=11).evaluate_many(_many(200))
    capacity = out["initial_capacity_mah_g"]
    assert 0.02 < capacity.std() / capacity.mean() < 0.05
    assert abs(capacity.mean() / 827.0 - 1.0) < 0.02
    retention = out["retention_pct"][~out["failed"]]
    assert 0.5 < retention.std() < 4.0


def test_scatter_grows_with_loading() -> None:
    cell = SimulatedCell(seed=12)
    cv = [
        np.std(q) / np.mean(q)
        for q in (
            cell.evaluate_many(_many(400, li2s_loading_mg_cm2=x))[
                "initial_capacity_mah_g"
            ]
            for x in (1.0, 7.0)
        )
    ]
    assert cv[1] > 1.3 * cv[0]


def test_noisy_safety_levels_are_discrete() -> None:
    out = SimulatedCell(seed=13).evaluate_many(_many(300))
    levels = out["eucar_nail_level"]
    assert levels.dtype == np.int64 and levels.min() >= 0 and levels.max() <= 7
    assert abs(levels.mean() - 1.5) < 0.3


def test_hard_failures_rare_at_nominal() -> None:
    out = SimulatedCell(seed=14).evaluate_many(_many(500))
    assert out["failed"].mean() < 0.05
    assert set(out["failure_kind"]) <= {None, *FAILURE_KINDS}


def test_hard_failures_common_with_plating_and_thick_cathodes() -> None:
    out = SimulatedCell(seed=15).evaluate_many(
        _many(300, np_ratio=0.9, li2s_loading_mg_cm2=8.0)
    )
    assert out["failed"].mean() > 0.5
    kinds = Counter(out["failure_kind"])
    assert kinds["short_circuit"] > 0 and kinds["build_failed"] > 0
    dead = out["failure_kind"] == "short_circuit"
    curves = out["capacity_mah_g"][dead]
    assert np.all(curves[:, 115] < 0.2 * curves[:, 0])
    assert np.median(out["duration_h"][dead]) < 0.9 * (60 + 24 + 1000)  # stopped early


def test_core_never_fails(core: SimulatedCell) -> None:
    out = core.evaluate_many(_many(50, np_ratio=0.9, li2s_loading_mg_cm2=8.0))
    assert not out["failed"].any()
    assert out["eucar_nail_level"][0] > 4.0  # expected level: unsafe, yet no draw


# Vectorised path ------------------------------------------------------------------
def _random_matrix(n_cells: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(k.low, k.high, n_cells) for k in KNOBS])


def test_evaluate_many_agrees_with_evaluate(core: SimulatedCell) -> None:
    matrix = _random_matrix(20, seed=3)
    many = core.evaluate_many(matrix, temperature_c=10.0, c_rate=0.5, cycles=600)
    for i, row in enumerate(matrix):
        one = core.evaluate(
            dict(zip(KNOB_NAMES, row, strict=True)),
            temperature_c=10.0,
            c_rate=0.5,
            cycles=600,
        )
        np.testing.assert_allclose(one["capacity_mah_g"], many["capacity_mah_g"][i])
        for key in SCALAR_KEYS:
            assert one[key] == pytest.approx(many[key][i], rel=1e-12), key
        assert one["warnings"] == [
            m
            for m, on in zip(WARNING_MESSAGES, many["warning_flags"][i], strict=True)
            if on
        ]


def test_evaluate_many_input_forms_and_chunks_agree(core: SimulatedCell) -> None:
    matrix = _random_matrix(2100, seed=4)
    as_dict = {name: matrix[:, j] for j, name in enumerate(KNOB_NAMES)}
    full = core.evaluate_many(matrix, cycles=2000)  # two internal chunks
    lean = core.evaluate_many(as_dict, cycles=2000, include_curves=False)
    assert full["capacity_mah_g"].shape == (2100, 2000)
    assert "capacity_mah_g" not in lean
    for key in (*SCALAR_KEYS, "capacity_500_mah_g"):
        np.testing.assert_allclose(full[key], lean[key], rtol=1e-12)


def test_evaluate_many_is_fast(core: SimulatedCell) -> None:
    matrix = _random_matrix(10_000, seed=5)
    start = time.perf_counter()
    out = core.evaluate_many(matrix)
    elapsed = time.perf_counter() - start
    assert out["capacity_mah_g"].shape == (10_000, 500)
    assert elapsed < 5.0  # contract: well under 1 s per 1000 evaluations


def test_evaluate_many_broadcasts_scalars(core: SimulatedCell) -> None:
    out = core.evaluate_many({**NOMINAL, "np_ratio": np.array([1.0, 1.2, 1.5])})
    assert out["initial_capacity_mah_g"].shape == (3,)


# Bad inputs -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        param(
            {"np_ratio": 3.0},
            r"Knob 'np_ratio' must lie in \[0\.9, 2\.0\] \(-\); got 3\.0\. Fix",
            id="above",
        ),
        param(
            {"li2s_loading_mg_cm2": 0.1},
            r"'li2s_loading_mg_cm2'.*\[0\.5, 8\.0\] \(mg/cm2\); got 0\.1",
            id="below",
        ),
        param({"eo_li_ratio": float("nan")}, r"'eo_li_ratio'.*got nan", id="nan"),
        param(
            {"nitridation_temp_c": float("inf")},
            r"'nitridation_temp_c'.*\[300\.0, 550\.0\] \(C\); got inf",
            id="inf",
        ),
        param(
            {"co_precursor_g": "0.4"},
            r"'co_precursor_g' must be a real number in \[0\.05, 1\.0\] \(g\); "
            r"got '0\.4' of type str",
            id="string",
        ),
        param({"np_ratio": True}, r"'np_ratio' must be a real number", id="bool"),
        param(
            {"np_ratoi": 1.2},
            r"Unknown knob 'np_ratoi'\. Did you mean 'np_ratio'\?",
            id="unknown",
        ),
    ],
)
def test_bad_knob_raises(
    core: SimulatedCell, changes: dict[str, object], pattern: str
) -> None:
    with pytest.raises(CellInputError, match=pattern):
        core.evaluate(_recipe() | changes)


def test_missing_knob_raises(core: SimulatedCell) -> None:
    recipe = _recipe()
    del recipe["eo_li_ratio"]
    with pytest.raises(CellInputError, match=r"Missing knob 'eo_li_ratio'.*\[6\.0, 40"):
        core.evaluate(recipe)


@pytest.mark.parametrize(
    ("conditions", "pattern"),
    [
        param(
            {"cycles": 50},
            r"'cycles' must lie in \[100, 2000\] \(cycles\); got 50",
            id="few",
        ),
        param({"cycles": 500.0}, r"'cycles' must be an integer", id="float-cycles"),
        param(
            {"c_rate": 5.0}, r"'c_rate' must lie in \[0\.05, 2\.0\] \(-\)", id="rate"
        ),
        param({"temperature_c": -40.0}, r"'temperature_c'.*got -40\.0", id="cold"),
    ],
)
def test_bad_condition_raises(
    core: SimulatedCell, conditions: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(CellInputError, match=pattern):
        core.evaluate(NOMINAL, **conditions)


def test_bad_arrays_name_the_row(core: SimulatedCell) -> None:
    matrix = _random_matrix(5, seed=6)
    matrix[3, 4] = 0.5
    with pytest.raises(CellInputError, match=r"'np_ratio'.*got 0\.5 in row 3"):
        core.evaluate_many(matrix)
    with pytest.raises(CellInputError, match=r"shape `n x 5`"):
        core.evaluate_many(matrix[:, :4])
    with pytest.raises(CellInputError, match=r"'np_ratio' must hold real numbers"):
        core.evaluate_many(_many(2) | {"np_ratio": np.array(["a", "b"])})
    with pytest.raises(CellInputError, match=r"share one length"):
        core.evaluate_many(_many(2) | {"np_ratio": np.ones(3)})


def test_bad_seed_raises() -> None:
    with pytest.raises(CellInputError, match="seed"):
        SimulatedCell(seed=-1)
