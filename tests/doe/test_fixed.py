"""Knobs held fixed: material already made, a furnace already set.

The lab asks for the next experiments with some knobs held at given values; the
strategy chooses the others. Checked from the search space up to the Campaign on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from doe import Campaign
from doe.definition import CampaignDefinition
from doe.exceptions import InvalidSettingsError
from doe.space import Parameter, SearchSpace
from doe.strategies import GPSettings, GPStrategy, History, make_strategy
from tests.conftest import CELL_TOML, toy_outcomes

FAST = GPSettings(
    num_restarts=2, raw_samples=64, mc_samples=16, maxiter_fit=50, maxiter_acq=30
)
SHELF = {"co_precursor_g": 0.4, "nitridation_temp_c": 450.0}  # a batch on the shelf


# ------------------------------------------------------------------- space
@pytest.fixture(name="space")
def fixture_space() -> SearchSpace:
    return SearchSpace(
        (
            Parameter("temp_c", 20.0, 80.0, unit="C", step=5.0),
            Parameter("conc_mol_l", 0.01, 1.0, unit="mol/L", log=True),
            Parameter("time_h", 1.0, 4.0, unit="h"),
        )
    )


def test_fixed_values_are_checked_and_come_back_in_knob_order(
    space: SearchSpace,
) -> None:
    assert space.validate_fixed(None) == {}
    assert space.validate_fixed({}) == {}
    got = space.validate_fixed({"time_h": "2.5", "temp_c": 35})
    assert got == {"temp_c": 35.0, "time_h": 2.5}
    assert list(got) == ["temp_c", "time_h"]
    assert space.validate_fixed({"conc_mol_l": 1.0}) == {"conc_mol_l": 1.0}  # a bound


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        ({"temp": 40}, "Unknown parameter 'temp' to fix. Did you mean 'temp_c'?"),
        ({"time_h": 9}, r"'time_h' must lie in \[1, 4\] h; got 9"),
        ({"time_h": "two"}, "'time_h' must be a number; got 'two'"),
        ({"time_h": float("nan")}, "'time_h' must be a finite number"),
        ({"temp_c": 37}, "steps of 5 C from 20; got 37. Use 35 or 40"),
        (
            {"temp_c": 40, "conc_mol_l": 0.1, "time_h": 2},
            "Every parameter is fixed, so there is nothing to choose",
        ),
    ],
)
def test_bad_fixed_values_name_the_knob_and_the_fix(
    space: SearchSpace, fixed: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSettingsError, match=message):
        space.validate_fixed(fixed)


def test_unit_cube_rows_take_the_fixed_values(space: SearchSpace) -> None:
    X = np.full((3, 3), 0.5)
    held = space.with_fixed(X, {"conc_mol_l": 0.1})
    assert held[:, 1] == pytest.approx([0.5] * 3)  # log scale: 0.1 is the middle
    assert (X == 0.5).all()  # a copy
    assert space.fixed_features({"time_h": 4.0}) == {2: 1.0}
    assert space.matches({"temp_c": 40.0, "time_h": 2.0 + 1e-12}, {"time_h": 2.0})
    assert not space.matches({"temp_c": 40.0, "time_h": 2.1}, {"time_h": 2.0})


# -------------------------------------------------------------- strategies
@pytest.fixture(name="cell")
def fixture_cell() -> CampaignDefinition:
    return CampaignDefinition.from_toml(CELL_TOML)


def _cell_history(d: CampaignDefinition, n: int) -> History:
    from campaigns.li2s_si.cell import SimulatedCell

    lab = SimulatedCell(seed=0, noise=False)
    rows = d.space.decode(d.space.sobol(n, seed=5))
    complete = []
    for r in rows:
        out = lab.evaluate(r)
        if not out.get("failed"):
            values = {o: float(out[o]) for o in d.outcome_names if o in out}
            complete.append((r, values, {}))
    return History(definition=d, complete=tuple(complete), n_total=n)


@pytest.mark.parametrize(
    ("strategy", "n_measured"),
    [
        ("gp", 3),  # the initial design
        ("gp", 14),  # the model
        ("sobol", 3),
        ("random", 3),
        ("tpe", 14),
        ("nsga2", 14),
    ],
)
def test_every_strategy_holds_the_fixed_knobs_and_chooses_the_others(
    cell: CampaignDefinition, strategy: str, n_measured: int
) -> None:
    options = {"num_restarts": 2, "raw_samples": 64} if strategy == "gp" else {}
    strat = make_strategy(strategy, cell, **options)
    props = strat.propose(_cell_history(cell, n_measured), 3, fixed=SHELF)
    assert len(props) == 3
    for p in props:
        assert {k: p.params[k] for k in SHELF} == SHELF  # exactly, no round trip
        assert p.info["fixed"] == SHELF
        cell.space.validate(p.params)
    free = [
        tuple(p.params[k] for k in cell.space.names if k not in SHELF) for p in props
    ]
    assert len(set(free)) == 3
    if strategy == "gp" and n_measured > 10:
        assert props[0].info["reason"].startswith("model")
        assert set(props[0].info["predicted"]) >= {"specific_energy_wh_kg"}


def test_without_fixed_knobs_nothing_is_recorded(cell: CampaignDefinition) -> None:
    props = make_strategy("sobol", cell).propose(_cell_history(cell, 3), 2)
    assert all("fixed" not in p.info for p in props)


MATCH = {  # the best b is the a given: what the fixed knob changes, the model knows
    "name": "match",
    "parameters": [
        {"name": "a_mm", "low": 0.0, "high": 1.0, "unit": "mm"},
        {"name": "b_mm", "low": 0.0, "high": 1.0, "unit": "mm"},
    ],
    "objectives": [
        {"name": "fit_pct", "direction": "maximize", "unit": "%", "threshold": -300.0},
        {"name": "size", "direction": "maximize", "unit": "-", "threshold": 0.0},
    ],
    "initial_design": 4,
    "seed": 1,
}


def _match(params: dict[str, float]) -> dict[str, float]:
    a, b = params["a_mm"], params["b_mm"]
    return {"fit_pct": 100.0 - 400.0 * (b - a) ** 2, "size": 10.0 * a}


def test_the_model_chooses_the_free_knob_for_the_fixed_value() -> None:
    # Left free, the model goes for a large a (size) with b = a. With a fixed at
    # 0.2, where nothing was measured, the best b is 0.2: the acquisition must be
    # optimised with a held, not optimised freely and then overwritten.
    d = CampaignDefinition.from_dict(MATCH)
    rows = [r for r in d.space.decode(d.space.sobol(16, seed=11))]
    rows = [r for r in rows if abs(r["a_mm"] - 0.2) > 0.08][:12]
    h = History(
        definition=d, complete=tuple((r, _match(r), {}) for r in rows), n_total=16
    )
    held = {"a_mm": 0.2}
    picks = [
        GPStrategy(d, seed=s, settings=FAST).propose(h, 1, fixed=held)[0]
        for s in range(3)
    ]
    assert all(p.info["reason"].startswith("model") for p in picks)
    assert all(p.params["a_mm"] == 0.2 for p in picks)
    assert all(abs(p.params["b_mm"] - 0.2) < 0.1 for p in picks), picks
    free = GPStrategy(d, seed=0, settings=FAST).propose(h, 1)[0].params
    assert free["a_mm"] > 0.5  # so the fixed value is what moved b


# ---------------------------------------------------------------- campaign
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_suggest_and_pull_with_fixed_knobs(
    toy_dict: dict[str, Any], request: pytest.FixtureRequest, backend: str
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_db")
    c = Campaign.create({**toy_dict, "strategy": "sobol"}, storage=url)
    free = c.suggest(1, operator="ana")[0]
    assert free.fixed == {}
    held = c.suggest(2, operator="ana", fixed={"conc_mol_l": "0.2"})
    assert [s.fixed for s in held] == [{"conc_mol_l": 0.2}] * 2
    assert all(c.trial(s.trial_id).params["conc_mol_l"] == 0.2 for s in held)

    # a pull with the same knob fixed takes the oldest unclaimed one holding it,
    # not the older free one
    got = c.pull("ben", fixed={"conc_mol_l": 0.2})
    assert got.trial_id == held[0].trial_id and got.claimed_by == "ben"
    # another value: nothing pending holds it, so a new one is made around it
    new = c.pull("ben", fixed={"conc_mol_l": 0.05})
    assert new.trial_id == 3 and new.fixed == {"conc_mol_l": 0.05}
    assert c.trial(3).params["conc_mol_l"] == 0.05
    # a plain pull still takes the oldest unclaimed one of any kind
    assert c.pull("cy").trial_id == free.trial_id

    table = c.table().set_index("trial")
    assert table.loc[1, "fixed"] == "conc_mol_l=0.2"
    assert pd.isna(table.loc[0, "fixed"])

    # a bad value writes nothing
    before = [(t.number, t.attrs) for t in c.trials()]
    with pytest.raises(InvalidSettingsError, match="'conc_mol_l' must lie in"):
        c.suggest(1, fixed={"conc_mol_l": 3.0})
    with pytest.raises(InvalidSettingsError, match="Did you mean 'temp_c'"):
        c.pull("ben", fixed={"tmp_c": 40})
    assert [(t.number, t.attrs) for t in c.trials()] == before


def test_a_design_round_with_fixed_knobs_counts_towards_the_design(
    toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    c = Campaign.create({**toy_dict, "strategy": "gp"}, storage=sqlite_url)
    batch = c.suggest(4, fixed={"temp_c": 45.0})
    assert all(s.reason.startswith("initial design") for s in batch)
    assert len({s.params["conc_mol_l"] for s in batch}) == 4
    for s in batch:
        c.record(s.trial_id, toy_outcomes(s.params))
    after = c.suggest(1, fixed={"temp_c": 45.0})[0]
    assert after.reason.startswith("model") and after.params["temp_c"] == 45.0


# ------------------------------------------------------------ shared knobs
def test_shared_knobs_are_checked(space: SearchSpace) -> None:
    assert space.validate_shared(None) == ()
    assert space.validate_shared(["time_h", "temp_c"]) == ("temp_c", "time_h")
    assert space.validate_shared(["time_h", "temp_c"], {"temp_c": 40.0}) == ("time_h",)
    with pytest.raises(InvalidSettingsError, match="to share. Did you mean 'time_h'"):
        space.validate_shared(["tme_h"])
    with pytest.raises(
        InvalidSettingsError, match="Every parameter is shared or fixed"
    ):
        space.validate_shared(["temp_c", "time_h"], {"conc_mol_l": 0.1})


@pytest.mark.parametrize("strategy", ["gp", "tpe"])
def test_a_batch_shares_one_synthesis(
    toy_dict: dict[str, Any], sqlite_url: str, strategy: str
) -> None:
    c = Campaign.create({**toy_dict, "strategy": strategy}, storage=sqlite_url)
    for s in c.suggest(4):  # the initial design, measured
        c.record(s.trial_id, toy_outcomes(s.params))
    batch = c.suggest(3, shared=["temp_c"])
    temps = {s.params["temp_c"] for s in batch}
    assert len(temps) == 1  # one furnace run for the three
    assert len({s.params["conc_mol_l"] for s in batch}) == 3
    assert batch[0].fixed == {}  # chosen as usual
    assert [s.fixed for s in batch[1:]] == [{"temp_c": temps.pop()}] * 2
    assert all(s.shared == ("temp_c",) for s in batch)
    # held and shared together: the held value is the batch's
    both = c.suggest(2, fixed={"temp_c": 70.0}, shared=["temp_c"])
    assert [s.params["temp_c"] for s in both] == [70.0, 70.0]
    assert all(s.shared == () for s in both)  # nothing left to share
    with pytest.raises(InvalidSettingsError, match="repeat one experiment"):
        c.suggest(2, shared=["temp_c", "conc_mol_l"])
    assert len(c.trials()) == 9
