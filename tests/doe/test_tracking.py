"""The MLflow mirror (doe.tracking) against real SQLite tracking stores.

Each test gets its own store, ``sqlite:///{tmp_path}/mlflow.db`` (mlflow's own
``tracking_uri_mock`` pattern), copied from a store made once per module: creating
MLflow's schema takes seconds.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from doe import Campaign
from doe.exceptions import TrackingError, TrackingWarning
from doe.ledger import mask_url
from doe.tracking import (
    HTTP_DEFAULTS,
    Tracker,
    default_tracking_uri,
    param_key,
    repo_root,
    resolve_tracking_uri,
    round_payload,
)
from tests.conftest import CELL_TOML, ROOT, mlflow_runs, toy_outcomes

SERIES = [100.0, 99.5, 99.1, 98.4]


@pytest.fixture(name="mlflow_template", scope="module")
def fixture_mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates the schema
    return path


@pytest.fixture(name="tracking_uri", autouse=True)
def fixture_tracking_uri(
    mlflow_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(name="client")
def fixture_client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


@pytest.fixture(name="campaign")
def fixture_campaign(toy_dict: dict[str, Any], sqlite_url: str) -> Campaign:
    toy_dict["strategy"] = "sobol"
    return Campaign.create(toy_dict, storage=sqlite_url)


def _runs(client: Any, experiment: str = "toy") -> dict[tuple[str, str], Any]:
    return mlflow_runs(client, experiment)


def _short_campaign(c: Campaign) -> dict[str, Any]:
    """Two rounds with every kind of trial; returns what the test checks."""
    first = c.suggest(3, operator="ana")
    c.record(
        0,
        toy_outcomes(first[0].params),
        operator="ana",
        series={"capacity_mah_g": SERIES},
    )
    c.record(1, toy_outcomes(first[1].params), operator="bo")
    c.fail(2, "short_circuit", "shorted in formation", operator="ana")
    hv = c.hypervolume()
    second = c.suggest(2, operator="cy")
    c.abandon(second[1].trial_id, note="no precursor left")
    added = c.add(
        {"temp_c": 55.0, "conc_mol_l": 0.2},
        toy_outcomes({"temp_c": 55.0, "conc_mol_l": 0.2}),
        operator="di",
    )
    return {"hv_round_2": hv, "pending": second[0].trial_id, "added": added}


# --------------------------------------------------------------------- runs
def test_experiment_is_made_on_create_with_the_campaign_tags(
    campaign: Campaign, client: Any, tmp_path: Path
) -> None:
    exp = client.get_experiment_by_name("toy")
    tags = exp.tags
    assert tags["doe.definition_hash"] == campaign.definition.hash
    assert tags["doe.storage"] == mask_url(campaign.storage)
    assert "yield_pct [%] maximize, threshold 0" in tags["doe.objectives"]
    assert "cost_eur [EUR] minimize" in tags["doe.objectives"]
    assert tags["doe.limits"] == "purity_pct >= 90"
    assert tags["mlflow.note.content"] == campaign.definition.description
    assert exp.artifact_location == (tmp_path / "artifacts" / "toy").as_uri()
    assert campaign.tracking_status == "ok"


def test_an_updated_definition_updates_the_experiment_tags(
    campaign: Campaign, client: Any, toy_dict: dict[str, Any]
) -> None:
    toy_dict["parameters"][0]["high"] = 95.0
    toy_dict["limits"][0]["value"] = 92.0
    campaign.update_definition(toy_dict, note="hotter")
    tags = client.get_experiment_by_name("toy").tags
    assert tags["doe.definition_hash"] == campaign.definition.hash
    assert "temp_c [C] 20..95" in tags["doe.parameters"]
    assert tags["doe.limits"] == "purity_pct >= 92"


def test_short_campaign_has_one_run_per_trial_and_round(
    campaign: Campaign, client: Any
) -> None:
    _short_campaign(campaign)
    runs = _runs(client)
    trials = campaign.trials()
    assert sorted(k for k in runs if k[0] == "trial") == sorted(
        ("trial", str(t.number)) for t in trials
    )
    assert sorted(k for k in runs if k[0] == "round") == [
        ("round", "1"),
        ("round", "2"),
    ]
    assert len(runs) == len(trials) + 2
    assert campaign.tracking_status == "ok"


def test_trial_runs_hold_settings_outcomes_and_provenance(
    campaign: Campaign, client: Any
) -> None:
    facts = _short_campaign(campaign)
    runs = _runs(client)
    t0, run = campaign.trial(0), runs["trial", "0"]
    assert run.info.run_name == "trial-0"
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "temp_c__C": repr(t0.params["temp_c"]),
        "conc_mol_l__mol_per_L": repr(t0.params["conc_mol_l"]),
    }
    for name, value in t0.outcomes.items():
        assert run.data.metrics[name] == value
    tags = run.data.tags
    assert {
        k: tags[k] for k in ("doe.state", "doe.source", "doe.round", "doe.strategy")
    } == {
        "doe.state": "complete",
        "doe.source": "suggested",
        "doe.round": "1",
        "doe.strategy": "sobol",
    }
    assert (tags["doe.asked_by"], tags["doe.recorded_by"], tags["doe.operator"]) == (
        "ana",
        "ana",
        "ana",
    )
    assert tags["doe.reason"] == "sobol"
    history = client.get_metric_history(run.info.run_id, "capacity_mah_g")
    assert [(m.step, m.value) for m in history] == list(enumerate(SERIES, start=1))

    failed = runs["trial", "2"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["doe.state"] == "failed"
    assert failed.data.tags["doe.failure_kind"] == "short_circuit"
    assert failed.data.tags["doe.failure_note"] == "shorted in formation"
    abandoned = runs["trial", str(facts["pending"] + 1)]
    assert (abandoned.info.status, abandoned.data.tags["doe.state"]) == (
        "KILLED",
        "abandoned",
    )
    pending = runs["trial", str(facts["pending"])]
    assert (pending.info.status, pending.data.tags["doe.state"]) == (
        "RUNNING",
        "pending",
    )
    assert (
        pending.data.tags["doe.asked_by"] == "cy"
        and "doe.recorded_by" not in pending.data.tags
    )
    added = runs["trial", str(facts["added"])].data.tags
    assert (added["doe.source"], added["doe.recorded_by"], added["doe.state"]) == (
        "recorded",
        "di",
        "complete",
    )
    assert "doe.round" not in added


def test_pending_run_is_updated_in_place(campaign: Campaign, client: Any) -> None:
    s = campaign.suggest(1, operator="ana", claim=True)[0]
    before = _runs(client)["trial", "0"]
    assert before.info.status == "RUNNING"
    assert before.data.tags["doe.claimed_by"] == "ana"
    assert "yield_pct" not in before.data.metrics
    campaign.record(s.trial_id, toy_outcomes(s.params), operator="bo")
    after = _runs(client)["trial", "0"]
    assert after.info.run_id == before.info.run_id
    assert after.info.status == "FINISHED" and after.info.end_time is not None
    assert after.data.metrics["yield_pct"] == toy_outcomes(s.params)["yield_pct"]
    assert (after.data.tags["doe.state"], after.data.tags["doe.operator"]) == (
        "complete",
        "bo",
    )


def test_a_corrected_result_updates_its_run(campaign: Campaign, client: Any) -> None:
    s = campaign.suggest(1, operator="ana")[0]
    measured = toy_outcomes(s.params)
    campaign.record(s.trial_id, measured, operator="bo")
    before = _runs(client)["trial", "0"]
    assert "doe.corrections" not in before.data.tags
    campaign.correct(s.trial_id, {"yield_pct": 12.5}, note="typo", operator="cy")
    after = _runs(client)["trial", "0"]
    assert after.info.run_id == before.info.run_id
    assert after.data.metrics["yield_pct"] == 12.5
    assert after.data.metrics["cost_eur"] == measured["cost_eur"]
    tags = after.data.tags
    assert (tags["doe.corrections"], tags["doe.corrected_by"]) == ("1", "cy")
    assert tags["doe.correction_note"] == "typo" and tags["doe.corrected_at"]
    history = client.get_metric_history(after.info.run_id, "yield_pct")
    assert sorted(m.value for m in history) == sorted([12.5, measured["yield_pct"]])


def test_round_runs_hold_counts_and_artifacts(
    campaign: Campaign, client: Any, tmp_path: Path
) -> None:
    import matplotlib.image

    facts = _short_campaign(campaign)
    r1, r2 = _runs(client)["round", "1"], _runs(client)["round", "2"]
    assert r1.info.run_name == "round-1" and r1.info.status == "FINISHED"
    assert r1.data.params["strategy"] == "sobol" and r1.data.params["batch_size"] == "3"
    assert {
        k: r1.data.metrics[k]
        for k in ("n_complete", "n_pending", "n_failed", "hypervolume")
    } == {
        "n_complete": 0,
        "n_pending": 3,
        "n_failed": 0,
        "hypervolume": 0.0,
    }
    assert r2.data.metrics["n_complete"] == 2 and r2.data.metrics["n_failed"] == 1
    assert r2.data.metrics["hypervolume"] == pytest.approx(facts["hv_round_2"])
    assert r2.data.tags["doe.trials"] == "3,4" and r2.data.tags["doe.asked_by"] == "cy"
    assert not any(
        k.startswith("loo_r2/") for k in r2.data.metrics
    )  # no model: no diagnostics
    names = {f.path for f in client.list_artifacts(r2.info.run_id)}
    assert names == {"suggestions.csv", "pareto.png", "model.json"}
    local = Path(client.download_artifacts(r2.info.run_id, "", str(tmp_path / "dl")))
    image = matplotlib.image.imread(local / "pareto.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    with (local / "suggestions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["trial"]) for r in rows] == [3, 4]
    assert float(rows[0]["temp_c"]) == campaign.trial(3).params["temp_c"]
    assert json.loads((local / "model.json").read_text())["trials"] == [3, 4]


def test_round_with_model_diagnostics(campaign: Campaign) -> None:
    info = {
        "round": 4,
        "strategy": "gp",
        "trials": [7, 8],
        "asked_at": "2026-01-02T03:04:05.000000+00:00",
        "fit_seconds": 1.5,
        "acq_seconds": 2.5,
        "diagnostics": {
            "yield_pct": {
                "loo_r2": 0.91,
                "coverage_95": 0.94,
                "rmse": 2.0,
                "lengthscales": [0.3, 0.7],
                "noise_std": 0.05,
            }
        },
        "settings": {"num_restarts": 8},
    }
    p = round_payload(info, campaign.definition, campaign="toy")
    assert p.metrics["loo_r2/yield_pct"] == 0.91
    assert p.metrics["coverage_95/yield_pct"] == 0.94
    assert p.metrics["noise_std/yield_pct"] == 0.05
    assert p.metrics["lengthscale/yield_pct/temp_c"] == 0.3
    assert p.metrics["lengthscale/yield_pct/conc_mol_l"] == 0.7
    assert p.metrics["fit_seconds"] == 1.5 and p.params["strategy.num_restarts"] == "8"
    assert p.end_ms is not None and p.start_ms == p.end_ms - 4000


def test_round_info_records_switched_off_gp_settings(campaign: Campaign) -> None:
    from doe.strategies import GPSettings, GPStrategy
    from doe.tracking import round_info

    strategy = GPStrategy(
        campaign.definition, settings=GPSettings(trust_length=None, tail_floor=0.05)
    )
    info = round_info(
        strategy,
        [{"strategy": "gp"}],
        [1],
        operator="ana",
        asked_at="2026-01-02T03:04:05.000000+00:00",
        states=["pending"],
        hypervolume=0.0,
    )
    assert info["settings"]["trust_length"] == "off"
    assert info["settings"]["tail_floor"] == 0.05
    p = round_payload({**info, "round": 1}, campaign.definition, campaign="toy")
    assert p.params["strategy.trust_length"] == "off"
    assert p.params["strategy.tail_floor"] == "0.05"


# --------------------------------------------------------------------- sync
def test_sync_is_idempotent_and_repairs_drift(campaign: Campaign, client: Any) -> None:
    _short_campaign(campaign)
    runs = _runs(client)
    total = len(runs)
    first = campaign.sync_tracking()
    assert (first.created, first.updated, first.removed, first.unchanged) == (
        0,
        0,
        0,
        total,
    )
    # drift: a deleted run, a wrong tag, a duplicate of a trial's run (a retried POST)
    client.delete_run(runs["trial", "1"].info.run_id)
    client.set_tag(runs["trial", "0"].info.run_id, "doe.state", "pending")
    exp_id = client.get_experiment_by_name("toy").experiment_id
    client.create_run(
        exp_id,
        start_time=int(time.time() * 1000),
        tags={"doe.kind": "trial", "doe.trial": "3"},
    )
    repair = campaign.sync_tracking()
    assert (repair.created, repair.updated, repair.removed) == (1, 1, 1)
    assert repair.trials == len(campaign.trials()) and repair.rounds == 2
    again = campaign.sync_tracking()
    assert (again.created, again.updated, again.removed, again.unchanged) == (
        0,
        0,
        0,
        total,
    )
    assert "0 runs created, 0 updated" in str(again)
    assert _runs(client)["trial", "0"].data.tags["doe.state"] == "complete"


def test_sync_rebuilds_everything_from_the_ledger(
    toy_dict: dict[str, Any], sqlite_url: str, client: Any
) -> None:
    c = Campaign.create(
        dict(toy_dict, strategy="sobol"), storage=sqlite_url, tracking=False
    )
    _short_campaign(c)
    assert c.tracking_status == "off" and c.sync_tracking().status == "off"
    assert client.get_experiment_by_name("toy") is None
    mirror = Campaign.load("toy", storage=sqlite_url, tracking=True)
    report = mirror.sync_tracking()
    n = len(c.trials())
    assert (report.created, report.updated, report.unchanged) == (n + 2, 0, 0)
    runs = _runs(client)
    assert len(runs) == n + 2
    names = {f.path for f in client.list_artifacts(runs["round", "2"].info.run_id)}
    assert names == {"suggestions.csv", "pareto.png", "model.json"}
    assert mirror.sync_tracking().changed == 0


def test_tracking_off_in_the_definition_writes_nothing(
    toy_dict: dict[str, Any], sqlite_url: str, client: Any
) -> None:
    c = Campaign.create(
        dict(toy_dict, strategy="sobol", tracking=False), storage=sqlite_url
    )
    s = c.suggest(2)
    c.record(s[0].trial_id, toy_outcomes(s[0].params))
    assert c.tracking_status == "off"
    assert client.get_experiment_by_name("toy") is None
    assert [e.name for e in client.search_experiments()] == ["Default"]


def test_same_name_from_another_ledger_gets_its_own_experiment(
    toy_dict: dict[str, Any], tmp_path: Path, client: Any
) -> None:
    a = Campaign.create(
        dict(toy_dict, strategy="sobol"), storage=f"sqlite:///{tmp_path}/a.db"
    )
    a.suggest(2)
    b = Campaign.create(
        dict(toy_dict, strategy="sobol"), storage=f"sqlite:///{tmp_path}/b.db"
    )
    b.suggest(1)
    assert len(_runs(client, "toy")) == 3
    other = [e.name for e in client.search_experiments() if e.name.startswith("toy-")]
    assert len(other) == 1
    assert len(_runs(client, other[0])) == 2


# ------------------------------------------------------------------ outages
def test_unreachable_server_never_blocks_or_fails_a_write(
    toy_dict: dict[str, Any], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    for key in HTTP_DEFAULTS:  # restored afterwards; the tracker sets the defaults
        monkeypatch.setenv(key, "x")
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")  # the user's value wins
    start = time.monotonic()
    with pytest.warns(TrackingWarning, match="behind.*doe sync"):
        c = Campaign.create(
            dict(toy_dict, strategy="sobol"), storage=sqlite_url, tracking_uri=dead
        )
    assert time.monotonic() - start < 30
    assert c.tracking_status.startswith("behind: ")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    start = time.monotonic()
    batch = c.suggest(2)  # behind: MLflow is skipped until the retry time
    c.record(batch[0].trial_id, toy_outcomes(batch[0].params))
    assert time.monotonic() - start < 5
    assert [t.state for t in c.trials()] == ["complete", "pending"]
    with pytest.raises(
        TrackingError, match=r"Could not sync campaign 'toy'.*ledger is unaffected"
    ):
        c.sync_tracking()


def test_a_broken_store_warns_then_the_next_write_catches_up(
    campaign: Campaign, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import doe.tracking

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracking store refused the write")

    monkeypatch.setattr(doe.tracking, "RETRY_AFTER_S", 0.0)  # retry at the next write
    with monkeypatch.context() as m:
        m.setattr(Tracker, "_apply", broken)
        with pytest.warns(TrackingWarning, match="refused the write"):
            s = campaign.suggest(2)
        assert (
            campaign.tracking_status
            == "behind: RuntimeError: tracking store refused the write"
        )
    assert _runs(client) == {}
    campaign.record(s[0].trial_id, toy_outcomes(s[0].params))  # catches up in full
    assert campaign.tracking_status == "ok"
    runs = _runs(client)
    assert sorted(runs) == [("round", "1"), ("trial", "0"), ("trial", "1")]
    assert runs["trial", "0"].data.tags["doe.state"] == "complete"
    assert campaign.sync_tracking().changed == 0


# ---------------------------------------------------------------- the URI
def test_embedded_default_lives_in_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = f"sqlite:///{ROOT / 'mlflow' / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(ROOT / "doe")
    assert resolve_tracking_uri() == embedded  # found upward from the cwd
    monkeypatch.chdir(tmp_path)
    assert repo_root() == ROOT  # else from the installed package (editable)
    assert resolve_tracking_uri() == embedded
    assert repo_root(tmp_path, package_dir=tmp_path) is None
    assert (
        default_tracking_uri(tmp_path / "x", package_dir=tmp_path)
        == f"sqlite:///{tmp_path / 'x' / 'mlflow' / 'mlflow.db'}"
    )
    assert resolve_tracking_uri("http://team:5000") == "http://team:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://lab:5000")
    assert resolve_tracking_uri() == "http://lab:5000"


def test_embedded_store_of_a_checkout_gets_the_runs(
    toy_dict: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mlflow_template: Path,
) -> None:
    from mlflow import MlflowClient

    checkout = tmp_path / "checkout"
    (checkout / "mlflow").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "mlflow" / "README.md").write_text("")
    shutil.copy(mlflow_template, checkout / "mlflow" / "mlflow.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(checkout / "mlflow")
    c = Campaign.create(
        dict(toy_dict, strategy="sobol"), storage=f"sqlite:///{tmp_path}/doe.db"
    )
    c.suggest(1)
    client = MlflowClient(f"sqlite:///{checkout / 'mlflow' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("toy")
    assert exp.artifact_location == (checkout / "mlflow" / "artifacts" / "toy").as_uri()
    assert len(client.search_runs([exp.experiment_id])) == 2
    assert any((checkout / "mlflow" / "artifacts" / "toy").rglob("pareto.png"))


def test_param_keys_carry_units_mlflow_accepts(client: Any, tmp_path: Path) -> None:
    from mlflow.entities import Param

    from doe.definition import CampaignDefinition

    d = CampaignDefinition.from_toml(CELL_TOML)
    keys = [param_key(p.name, p.unit) for p in d.space.parameters]
    assert keys == [
        "co_precursor_g__g",
        "nitridation_temp_c__C",
        "li2s_loading_mg_cm2__mg_per_cm2",
        "eo_li_ratio__mol_per_mol",
        "np_ratio",
    ]
    assert param_key("retention_pct", "%") == "retention_pct__pct"
    assert param_key("t_c", "°C") == "t_c__degC"
    run = client.create_run(
        client.create_experiment("keys", artifact_location=str(tmp_path))
    )
    client.log_batch(run.info.run_id, params=[Param(k, "1.0") for k in keys])
    assert set(client.get_run(run.info.run_id).data.params) == set(keys)


def test_importing_the_tracking_module_loads_no_mlflow() -> None:
    import subprocess
    import sys

    code = "import sys, doe.tracking; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert not {m.split(".")[0] for m in out.split()} & {
        "mlflow",
        "matplotlib",
        "torch",
    }


def test_fixed_knobs_are_tagged_on_the_trial_and_round_runs(
    campaign: Campaign, client: Any
) -> None:
    campaign.suggest(1, operator="ana")
    held = campaign.suggest(2, operator="ana", fixed={"temp_c": 45})
    runs = _runs(client)
    for s in held:
        assert runs["trial", str(s.trial_id)].data.tags["doe.fixed"] == "temp_c=45"
    assert "doe.fixed" not in runs["trial", "0"].data.tags
    r2 = runs["round", "2"]
    assert r2.data.params["fixed.temp_c"] == "45.0"
    assert r2.data.tags["doe.fixed"] == "temp_c=45"
    assert not any(k.startswith("fixed.") for k in runs["round", "1"].data.params)
    shared = campaign.suggest(2, operator="ana", shared=["temp_c"])
    runs = _runs(client)
    assert runs["round", "3"].data.params["shared"] == "temp_c"
    assert "fixed.temp_c" not in runs["round", "3"].data.params  # not held by the asker
    last = runs["trial", str(shared[1].trial_id)].data.tags
    assert last["doe.shared"] == "temp_c"
    assert last["doe.fixed"] == f"temp_c={shared[0].params['temp_c']:g}"
