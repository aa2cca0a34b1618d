"""The Campaign API against real SQLite ledgers (strategies that need no model)."""

from __future__ import annotations

import copy
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from doe import Campaign
from doe.exceptions import (
    AmbiguousCampaignError,
    CampaignExistsError,
    DefinitionError,
    IncompatibleDefinitionError,
    InvalidArgumentError,
    InvalidMeasurementError,
    InvalidSettingsError,
    TrialStateError,
    UnknownCampaignError,
    UnknownTrialError,
)
from tests.conftest import CELL_TOML, toy_outcomes

GOOD = {"yield_pct": 50.0, "cost_eur": 3.0, "purity_pct": 95.0}


@pytest.fixture(name="campaign")
def fixture_campaign(toy_dict: dict[str, Any], sqlite_url: str) -> Campaign:
    toy_dict["strategy"] = "sobol"
    return Campaign.create(toy_dict, storage=sqlite_url)


def _snapshot(c: Campaign) -> list[tuple]:
    return [
        (t.number, t.state, t.params, t.outcomes, sorted(t.attrs)) for t in c.trials()
    ]


def test_create_then_load_by_name_and_alone(
    campaign: Campaign, sqlite_url: str
) -> None:
    again = Campaign.load("toy", storage=sqlite_url)
    assert again.definition == campaign.definition
    assert Campaign.load(storage=sqlite_url).name == "toy"


def test_create_from_toml_and_refuse_duplicates(sqlite_url: str) -> None:
    c = Campaign.create(str(CELL_TOML), storage=sqlite_url)
    assert c.name == "li2s-si-gpe"
    with pytest.raises(CampaignExistsError, match="already exists"):
        Campaign.create(CELL_TOML, storage=sqlite_url)


def test_load_errors(
    campaign: Campaign, sqlite_url: str, toy_dict: dict, tmp_path
) -> None:
    with pytest.raises(
        UnknownCampaignError, match="No campaign 'toi'.*Did you mean 'toy'"
    ):
        Campaign.load("toi", storage=sqlite_url)
    with pytest.raises(UnknownCampaignError, match="does not exist"):
        Campaign.load("toy", storage=f"sqlite:///{tmp_path}/nothing.db")
    assert not (tmp_path / "nothing.db").exists()
    Campaign.create(dict(toy_dict, name="toy2"), storage=sqlite_url)
    with pytest.raises(AmbiguousCampaignError, match="holds 2 campaigns"):
        Campaign.load(storage=sqlite_url)


def test_suggest_record_fail_abandon_cycle(campaign: Campaign) -> None:
    batch = campaign.suggest(4, operator="ana")
    assert [s.trial_id for s in batch] == [0, 1, 2, 3]
    assert len({tuple(s.params.values()) for s in batch}) == 4
    for s in batch:
        assert campaign.definition.space.validate(s.params) == s.params
        assert s.strategy == "sobol"
    rec = campaign.record(0, toy_outcomes(batch[0].params), operator="ana")
    assert rec.state == "complete" and rec.attrs["recorded_by"] == "ana"
    assert (
        campaign.fail(1, "short_circuit", "shorted in formation").failure_kind
        == "short_circuit"
    )
    assert campaign.abandon(2).state == "abandoned"
    assert campaign.counts() == {
        "pending": 1,
        "complete": 1,
        "failed": 1,
        "abandoned": 1,
    }
    prov = campaign.trial(0).attrs
    assert prov["asked_by"] == "ana" and prov["round"] == 1 and "asked_at" in prov


def test_second_batch_never_repeats_pending_points(campaign: Campaign) -> None:
    a = campaign.suggest(3)
    b = campaign.suggest(3)
    pts = {tuple(s.params.values()) for s in a + b}
    assert len(pts) == 6
    assert {campaign.trial(s.trial_id).attrs["round"] for s in b} == {2}


@pytest.mark.parametrize(
    ("outcomes", "error", "match"),
    [
        pytest.param(
            {"yield_pct": 1.0},
            InvalidMeasurementError,
            "Missing objective.*'cost_eur'",
            id="missing",
        ),
        pytest.param(
            dict(GOOD, yeild_pct=1.0),
            InvalidMeasurementError,
            "Unknown outcome 'yeild_pct'.*Did you mean 'yield_pct'",
            id="unknown",
        ),
        pytest.param(
            dict(GOOD, cost_eur=math.nan),
            InvalidMeasurementError,
            r"'cost_eur' \[EUR\] must be a finite",
            id="nan",
        ),
        pytest.param(
            dict(GOOD, cost_eur=math.inf), InvalidMeasurementError, "finite", id="inf"
        ),
        pytest.param(
            dict(GOOD, cost_eur="cheap"),
            InvalidMeasurementError,
            "must be a number; got 'cheap'",
            id="text",
        ),
    ],
)
def test_bad_outcomes_write_nothing(
    campaign: Campaign, outcomes: dict, error: type, match: str
) -> None:
    campaign.suggest(1)
    before = _snapshot(campaign)
    with pytest.raises(error, match=match):
        campaign.record(0, outcomes)
    assert _snapshot(campaign) == before


def test_state_errors_write_nothing(campaign: Campaign) -> None:
    campaign.suggest(2)
    campaign.record(0, GOOD)
    campaign.fail(1, "lost")
    before = _snapshot(campaign)
    with pytest.raises(TrialStateError, match="already complete"):
        campaign.record(0, GOOD)
    with pytest.raises(TrialStateError, match=r"already failed \(lost\)"):
        campaign.record(1, GOOD)
    with pytest.raises(UnknownTrialError, match="no trial 7.*0 to 1"):
        campaign.record(7, GOOD)
    with pytest.raises(UnknownTrialError, match="whole numbers"):
        campaign.record(-1, GOOD)
    with pytest.raises(
        InvalidMeasurementError, match="Failure kind 'shorted'.*Did you mean"
    ):
        campaign.fail(0, "shorted")
    with pytest.raises(InvalidArgumentError, match="Batch size"):
        campaign.suggest(0)
    assert _snapshot(campaign) == before


def test_add_many_checks_all_rows_first(campaign: Campaign) -> None:
    good = {"temp_c": 50.0, "conc_mol_l": 0.2}
    rows = [
        {"settings": good, "outcomes": GOOD},
        {"settings": dict(good, temp_c=500.0), "outcomes": GOOD},
    ]
    with pytest.raises(
        InvalidSettingsError,
        match=r"'temp_c' in row 2 must lie in \[20, 80\] C; got 500",
    ):
        campaign.add_many(rows)
    assert campaign.trials() == []
    n = campaign.add(good, GOOD, note="from the notebook")
    assert campaign.trial(n).state == "complete"
    assert campaign.trial(n).attrs["source"] == "recorded"
    f = campaign.add(good, failure_kind="build_failed")
    assert campaign.trial(f).state == "failed"


def test_table_pareto_hypervolume(campaign: Campaign) -> None:
    pts = [
        ({"temp_c": 60.0, "conc_mol_l": 1.0}, None),
        ({"temp_c": 60.0, "conc_mol_l": 0.05}, None),
        ({"temp_c": 20.0, "conc_mol_l": 0.01}, None),
        ({"temp_c": 80.0, "conc_mol_l": 0.5}, {"purity_pct": 80.0}),  # breaks the limit
    ]
    for settings, override in pts:
        campaign.add(settings, {**toy_outcomes(settings), **(override or {})})
    table = campaign.table()
    assert list(table["trial"]) == [0, 1, 2, 3]
    assert {"temp_c", "yield_pct", "purity_pct", "strategy", "state"} <= set(
        table.columns
    )
    front = campaign.pareto()
    assert 3 not in set(front["trial"])
    assert set(front["trial"]) <= {0, 1, 2}
    hv = campaign.hypervolume()
    assert hv > 0
    assert campaign.reference_point() == [0.0, -10.0]


def test_pull_claims_distinct_experiments(campaign: Campaign) -> None:
    campaign.suggest(2)
    a = campaign.pull("ana")
    b = campaign.pull("ben")
    c = campaign.pull("cy")  # pool empty: a new suggestion
    assert (a.trial_id, b.trial_id, c.trial_id) == (0, 1, 2)
    assert campaign.trial(1).claimed_by == "ben"
    with pytest.raises(TrialStateError, match="claimed by 'ben'"):
        campaign.release(1, operator="ana")
    campaign.release(1, operator="ben")
    assert campaign.pull("dee").trial_id == 1
    with pytest.raises(InvalidArgumentError, match="Operator must be a name"):
        campaign.pull("  ")


def test_expired_lease_returns_to_pool_and_stale_suggestions_expire(
    campaign: Campaign,
) -> None:
    campaign.suggest(1)
    campaign.pull("ana", lease_hours=1e-6)
    assert campaign.pull("ben").trial_id == 0  # ana's lease has run out
    campaign.suggest(1)
    old = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="microseconds")
    campaign._ledger.set_attrs(1, {"created_at": old})
    campaign.suggest(1)
    assert campaign.trial(1).state == "abandoned"
    assert "unclaimed" in campaign.trial(1).attrs["failure_note"]


def test_update_definition(campaign: Campaign, toy_dict: dict) -> None:
    result = campaign.update_definition(
        dict(toy_dict, strategy="random", description="v2")
    )
    assert result.written and campaign.definition.strategy == "random"
    assert [c.field for c in result.changes] == ["description", "strategy"]
    bad = dict(toy_dict, objectives=toy_dict["objectives"][:1])
    with pytest.raises(IncompatibleDefinitionError):
        campaign.update_definition(bad)
    assert campaign.definition.description == "v2"
    same = campaign.update_definition(campaign.definition)
    assert not same.written and same.changes == ()
    assert len(campaign.definition_history()) == 1


def _knob(d: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    """A copy of definition ``d`` with knob ``name`` changed."""
    out = copy.deepcopy(d)
    (p,) = [p for p in out["parameters"] if p["name"] == name]
    p.update(changes)
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_running_campaign_takes_wider_bounds_and_keeps_its_data(
    backend: str, toy_dict: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_db")
    toy_dict["strategy"] = "tpe"  # an Optuna sampler rebuilds the history
    c = Campaign.create(toy_dict, storage=url, tracking=False)
    for s in c.suggest(4, strategy="sobol"):
        c.record(s.trial_id, toy_outcomes(s.params))
    before = _snapshot(c)
    hottest = max(t.params["temp_c"] for t in c.trials())
    wide = _knob(toy_dict, "temp_c", high=120.0)
    wide["objectives"][0]["threshold"] = 5.0

    dry = c.update_definition(wide, dry_run=True)
    assert not dry.written and [str(x) for x in dry.changes] == [
        "parameters.temp_c.high: 80 -> 120",
        "objectives.yield_pct.threshold: 0 -> 5",
    ]
    assert c.definition.space["temp_c"].high == 80.0 and not c.definition_history()

    done = c.update_definition(wide, note="best near 80 C", operator="ana")
    assert done.written and done.changes == dry.changes
    assert _snapshot(c) == before  # the data stay as they were
    again = Campaign.load("toy", storage=url, tracking=False)
    assert again.definition.space["temp_c"].high == 120.0
    (change,) = again.definition_history()
    assert (change["by"], change["note"]) == ("ana", "best near 80 C")
    assert (change["from_hash"], change["to_hash"]) == (done.old.hash, done.new.hash)
    assert change["changes"][0] == ["parameters.temp_c.high", 80.0, 120.0]
    # suggestions use the new bounds, with the old experiments as history
    batch = again.suggest(6, strategy="sobol") + again.suggest(2)
    assert max(s.params["temp_c"] for s in batch) > 80.0
    assert all(20.0 <= s.params["temp_c"] <= 120.0 for s in batch)

    # bounds that leave an experiment outside are refused, naming it; nothing written
    before = _snapshot(again)
    tight = _knob(wide, "temp_c", high=hottest - 1.0)
    with pytest.raises(IncompatibleDefinitionError, match=r"knob 'temp_c' high = "
                       r".* leaves trial \d+ \((complete|pending), .* C\) outside\. "
                       r"Keep high at or above"):  # fmt: skip
        again.update_definition(tight)
    assert again.definition.space["temp_c"].high == 120.0
    assert _snapshot(again) == before and len(again.definition_history()) == 1


def test_an_update_keeps_recorded_results_valid(
    campaign: Campaign, toy_dict: dict
) -> None:
    n = campaign.add({"temp_c": 60.0, "conc_mol_l": 0.5}, GOOD)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        (dict(toy_dict, name="toy2"), IncompatibleDefinitionError,
         "cannot be renamed to 'toy2'"),
        (_knob(toy_dict, "temp_c", unit="K"), IncompatibleDefinitionError,
         "('temp_c', 'C', False, None) -> ('temp_c', 'K', False, None)"),
        (_knob(toy_dict, "conc_mol_l", log=False), IncompatibleDefinitionError,
         "log scale or step"),
        (dict(toy_dict, parameters=toy_dict["parameters"][::-1]),
         IncompatibleDefinitionError, "name, order, unit"),
        (dict(toy_dict, outcomes={}, limits=[]), IncompatibleDefinitionError,
         f"outcome 'purity_pct' is recorded for trial {n}"),
        ({**toy_dict, "objectives": [
            {**toy_dict["objectives"][0], "valid_range": [0.0, 40.0]},
            toy_dict["objectives"][1]]}, IncompatibleDefinitionError,
         f"trial {n} holds yield_pct = 50 %, outside the new valid_range [0, 40]"),
        ({**toy_dict, "objectives": toy_dict["objectives"][::-1]},
         IncompatibleDefinitionError, "objectives differ"),
        (_knob(toy_dict, "temp_c", low=90.0), DefinitionError, "needs low < high"),
    ]  # fmt: skip
    for definition, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            campaign.update_definition(definition)
    assert campaign.definition == Campaign.load("toy", campaign.storage).definition
    assert not campaign.definition_history()
    # a grid knob's low moves by whole steps, so the settings tried stay on it
    stepped = dict(_knob(toy_dict, "temp_c", step=5.0), name="grid")
    grid = Campaign.create(stepped, storage=campaign.storage)
    with pytest.raises(IncompatibleDefinitionError, match="off its grid of step 5"):
        grid.update_definition(_knob(stepped, "temp_c", low=22.0))
    assert grid.update_definition(_knob(stepped, "temp_c", low=10.0)).written


@pytest.mark.parametrize("strategy", ["random", "tpe", "nsga2"])
def test_optuna_baselines_propose_in_bounds(campaign: Campaign, strategy: str) -> None:
    for _ in range(3):
        for s in campaign.suggest(2, strategy=strategy):
            campaign.record(s.trial_id, toy_outcomes(s.params))
    assert campaign.counts()["complete"] == 6
    assert {t.attrs["provenance"]["strategy"] for t in campaign.trials()} == {strategy}


def test_suggestions_are_deterministic_for_a_seed(toy_dict: dict, tmp_path) -> None:
    runs = []
    for i in range(2):
        c = Campaign.create(
            dict(toy_dict, strategy="tpe"), storage=f"sqlite:///{tmp_path}/{i}.db"
        )
        for _ in range(3):
            for s in c.suggest(2):
                c.record(s.trial_id, toy_outcomes(s.params))
        runs.append([t.params for t in c.trials()])
    assert runs[0] == runs[1]


def test_record_many_is_all_or_nothing(campaign: Campaign) -> None:
    batch = campaign.suggest(3)
    campaign.record(batch[2].trial_id, GOOD)
    rows = [
        {"trial_id": batch[0].trial_id, "outcomes": GOOD, "where": " in r.csv row 2"},
        {"trial_id": batch[2].trial_id, "outcomes": GOOD, "where": " in r.csv row 3"},
    ]
    before = _snapshot(campaign)
    with pytest.raises(TrialStateError, match=r"already complete.*in r.csv row 3"):
        campaign.record_many(rows)
    bad = [
        dict(rows[0]),
        {
            "trial_id": batch[1].trial_id,
            "outcomes": {"yield_pct": 1.0},
            "where": " in r.csv row 3",
        },
    ]
    with pytest.raises(InvalidMeasurementError, match="in r.csv row 3"):
        campaign.record_many(bad)
    with pytest.raises(TrialStateError, match="more than once"):
        campaign.record_many([rows[0], rows[0]])
    assert _snapshot(campaign) == before
    done = campaign.record_many(
        [rows[0], {"trial_id": batch[1].trial_id, "outcomes": GOOD}], operator="eve"
    )
    assert [r.state for r in done] == ["complete", "complete"]
    assert {r.attrs["recorded_by"] for r in done} == {"eve"}


def test_model_quality_reports_loo_per_outcome(campaign: Campaign) -> None:
    assert campaign.model_quality() == {}
    for s in campaign.suggest(8):
        campaign.record(s.trial_id, toy_outcomes(s.params))
    quality = campaign.model_quality()
    assert set(quality) == {"yield_pct", "cost_eur", "purity_pct"}
    assert quality["cost_eur"]["n"] == 8
    assert quality["cost_eur"]["r2"] > 0.5
    assert 0.0 <= quality["yield_pct"]["coverage_95"] <= 1.0
    assert quality["cost_eur"]["prior_weight"] is None  # no [gp] prior


def test_a_database_without_a_ledger_is_named(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "users-only.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE doe_users (name TEXT)")
    with pytest.raises(UnknownCampaignError, match="holds no li2s-doe ledger yet"):
        Campaign.load(storage=f"sqlite:///{path}")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_correct_replaces_outcomes_everywhere_and_keeps_the_history(
    backend: str, toy_dict: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_db")
    toy_dict["strategy"] = "sobol"
    c = Campaign.create(toy_dict, storage=url, tracking=False)
    a = {"temp_c": 60.0, "conc_mol_l": 1.0}
    b = {"temp_c": 60.0, "conc_mol_l": 0.05}
    n = c.add(a, toy_outcomes(a))
    c.add(b, toy_outcomes(b))
    hv_before = c.hypervolume()
    recorded = toy_outcomes(a)
    rec = c.correct(n, {"yield_pct": 10.0}, note="typo", operator="ana")
    assert rec.outcomes == {**recorded, "yield_pct": 10.0}
    (fix,) = rec.attrs["corrections"]
    assert fix["previous"] == pytest.approx(recorded)
    assert (fix["by"], fix["note"]) == ("ana", "typo") and fix["at"]
    # everywhere: a fresh load, the table, what strategies see, the hypervolume
    again = Campaign.load(toy_dict["name"], storage=url, tracking=False)
    assert again.trial(n).outcomes["yield_pct"] == 10.0
    assert again.table().set_index("trial").loc[n, "yield_pct"] == 10.0
    assert 10.0 in [o["yield_pct"] for _, o, _ in again.history().complete]
    assert again.hypervolume() < hv_before
    # the same values again write nothing; a second correction keeps both
    assert len(c.correct(n, {"yield_pct": 10.0}, note="x").attrs["corrections"]) == 1
    back = c.correct(n, {"yield_pct": recorded["yield_pct"]}, note="undo")
    assert [f["note"] for f in back.attrs["corrections"]] == ["typo", "undo"]
    assert back.outcomes == pytest.approx(recorded)
    assert c.hypervolume() == pytest.approx(hv_before)
    # bad input: a clear error, nothing written
    pending = c.suggest(1)[0].trial_id
    before = _snapshot(c)
    cases: list[tuple[int, dict[str, Any], str, type[Exception], str]] = [
        (pending, {"yield_pct": 1.0}, "x", TrialStateError,
         "is pending; only a recorded result can be corrected"),
        (n, {"yeld_pct": 1.0}, "x", InvalidMeasurementError,
         "Unknown outcome 'yeld_pct'"),
        (n, {"yield_pct": "abc"}, "x", InvalidMeasurementError, "must be a number"),
        (n, {"yield_pct": 1.0}, " ", InvalidArgumentError, "Say why trial"),
        (n, {}, "x", InvalidMeasurementError, "Give the corrected outcome"),
        (99, {"yield_pct": 1.0}, "x", UnknownTrialError, "has no trial 99"),
    ]  # fmt: skip
    for trial, outcomes, note, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            c.correct(trial, outcomes, note=note)
    assert _snapshot(c) == before
