"""Sweeps: resume after interruption, reports, MLflow runs, Dask, gp vs random."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import doe.replay.sweep as sweep_module
from doe.replay import (
    ReplayConfig,
    SweepProgress,
    SweepSettingsError,
    resolve_simulator,
    run_replay,
    true_front,
)
from tests.doe.replay import toy_sweep

TOY = "tests.doe.replay:ToyLab"


def test_an_interrupted_sweep_resumes_and_only_missing_runs_are_recomputed(
    toy_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sweep"
    calls: list[tuple[str, int]] = []
    original = sweep_module.run_replay

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append((args[1].strategy, args[1].seed))
        return original(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_replay", counting)
    events: list[SweepProgress] = []
    first = toy_sweep(toy_file, out, progress=events.append)
    assert sorted(calls) == [("random", 0), ("random", 1), ("sobol", 0), ("sobol", 1)]
    assert first.n_run == 4 and first.n_skipped == 0
    assert events[0] == SweepProgress(4, 0, 0) and events[-1].done == 4
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["random-0.csv", "random-1.csv", "sobol-0.csv", "sobol-1.csv"]
    assert not list((out / "runs").glob("*.tmp"))

    (out / "runs" / "sobol-1.csv").unlink()  # as if interrupted before it finished
    calls.clear()
    second = toy_sweep(toy_file, out)
    assert calls == [("sobol", 1)]
    assert second.n_run == 1 and second.n_skipped == 3
    pd.testing.assert_frame_equal(second.trajectories, first.trajectories)

    calls.clear()
    more = toy_sweep(toy_file, out, seeds=3, strategies=["sobol"])
    assert calls == [("sobol", 2)]  # more seeds reuse the finished runs
    assert set(more.trajectories["seed"]) == {0, 1, 2}
    with pytest.raises(SweepSettingsError, match=r"other settings \(budget: 8 -> 6\)"):
        toy_sweep(toy_file, out, budget=6)


def test_a_sweep_resumed_after_the_code_changed_is_refused(
    toy_file: Path, tmp_path: Path
) -> None:
    from doe.replay.sweep import code_hash, library_versions, run_code_files

    out = tmp_path / "sweep"
    toy_sweep(toy_file, out, seeds=1, strategies=["sobol"])
    path = out / "settings.json"
    settings = json.loads(path.read_text())
    assert settings["code"] == code_hash(run_code_files())
    assert settings["libraries"] == library_versions()
    assert "botorch " in settings["libraries"]
    names = {p.name for p in run_code_files()}
    assert {"gp.py", "acquisition.py", "runner.py", "fit.py"} <= names
    assert "sweep.py" not in names and "report.py" not in names  # reports only
    # as if the runs came from another version of the strategies
    path.write_text(json.dumps({**settings, "code": "0123456789ab"}))
    with pytest.raises(SweepSettingsError, match=r"other settings \(code: "
                       r"'0123456789ab' -> .*\(code: the li2s-doe source its "
                       r"replays ran changed since\)"):  # fmt: skip
        toy_sweep(toy_file, out, seeds=1, strategies=["sobol"])
    # the hash follows the files' contents
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before = code_hash([a, b])
    assert code_hash([a, b]) == before
    b.write_text("y = 3\n")
    assert code_hash([a, b]) != before


def test_sweep_writes_table_plots_and_csv(toy_file: Path, tmp_path: Path) -> None:
    import matplotlib.image

    result = toy_sweep(toy_file, tmp_path / "sweep", budgets=[4, 8])
    files = result.files
    summary = pd.read_csv(files["summary"])
    assert list(summary["strategy"]) == ["sobol", "random", "best possible set"]
    for col in ("hv_4_median", "hv_4_q25", "hv_4_q75", "hv_8_median",
                "days_to_90_median", "days_to_95_median",
                "unsafe_share_post_initial", "failures_median"):  # fmt: skip
        assert col in summary.columns
    for text, days in zip(
        summary["days_to_90_median"], result.summary["days_to_90_median"], strict=True
    ):
        assert (
            text == "never"
            if np.isinf(days)
            else float(text) == pytest.approx(days) or np.isnan(days)
        )
    best = summary.set_index("strategy").loc["best possible set", "hv_8_median"]
    assert best == pytest.approx(result.truth.best_subset_fraction(8))
    traj = pd.read_csv(files["trajectories"])
    assert len(traj) == 2 * 2 * 8
    assert {"strategy", "seed", "n_completed", "lab_days", "hv_fraction",
            "n_violating", "n_failed"} <= set(traj.columns)  # fmt: skip
    for path in files["plots"]:
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert sorted(p.name for p in files["plots"]) == [
        "hv_vs_experiments.png",
        "hv_vs_lab_days.png",
    ]
    truth = json.loads(files["truth"].read_text())
    assert truth["best_subset_fraction"]["40"] <= 1.0
    settings = json.loads(files["settings"].read_text())
    assert settings["budget"] == 8 and settings["simulator"] == TOY
    # other lab-days levels change the reports only: the runs are reused
    again = toy_sweep(toy_file, tmp_path / "sweep", budgets=[4, 8], levels=[0.5, 0.8])
    assert again.n_run == 0 and again.levels == (0.5, 0.8)
    assert {"days_to_50_median", "days_to_80_median"} <= set(again.summary.columns)
    assert "days_to_90_median" not in again.summary.columns
    for bad in ([0.0], [1.5], []):
        with pytest.raises(SweepSettingsError, match="Levels must be fractions"):
            toy_sweep(toy_file, tmp_path / "sweep", levels=bad)
    # a variant's settings are checked with the campaign's before anything runs
    with pytest.raises(
        SweepSettingsError,
        match=r"Strategy 'gp\[design_region=prior\]' with the \[gp\] table of "
        r"campaign 'toy-lab': GP setting design_region='prior' needs an expectation",
    ):
        toy_sweep(
            toy_file,
            tmp_path / "other",
            strategies=["sobol", "gp[design_region=prior]"],
        )
    assert not (tmp_path / "other").exists()


def test_sweep_logs_a_parent_run_and_one_nested_run_per_replay(
    toy_file: Path, tmp_path: Path, mlflow_tmp_store: str
) -> None:
    from mlflow import MlflowClient

    uri = mlflow_tmp_store  # the session's temporary store ($MLFLOW_TRACKING_URI)
    result = toy_sweep(toy_file, tmp_path / "sweep", tracking=True)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("replay-toy-lab")
    assert exp is not None and result.tracking is not None
    assert result.tracking.experiment == "replay-toy-lab"
    out = str((tmp_path / "sweep").resolve())
    runs = [
        r
        for r in client.search_runs([exp.experiment_id])
        if r.data.tags.get("doe.out") == out
        or r.data.tags.get("mlflow.parentRunId") == result.tracking.run_id
    ]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.run_id == result.tracking.run_id
    assert parent.data.tags["doe.kind"] == "replay-sweep"
    assert parent.data.params["budget"] == "8" and parent.data.params["batch"] == "2"
    assert parent.data.params["strategies"] == "sobol,random"
    assert parent.data.params["simulator"] == TOY
    artifacts = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"summary.csv", "trajectories.csv", "hv_vs_experiments.png",
            "hv_vs_lab_days.png"} <= artifacts  # fmt: skip
    child = next(c for c in children if c.data.tags["doe.strategy"] == "sobol")
    history = client.get_metric_history(child.info.run_id, "hv_fraction")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, 9))
    assert "hv_fraction_final" in child.data.metrics
    assert all(r.info.status == "FINISHED" for r in runs)


@pytest.mark.slow
def test_sweep_on_a_local_dask_cluster_matches_joblib(
    toy_file: Path, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    local = toy_sweep(toy_file, tmp_path / "joblib")
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = toy_sweep(
            toy_file,
            tmp_path / "dask",
            backend="dask",
            address=cluster.scheduler_address,
        )
    assert remote.n_run == 4
    pd.testing.assert_frame_equal(remote.trajectories, local.trajectories)
    with pytest.raises(SweepSettingsError, match="needs the scheduler's address"):
        toy_sweep(toy_file, tmp_path / "x", backend="dask")


# Measured on this checkout (2 cores) with the campaign as it is (initial design 10),
# budget 20, batch 4, 4 channels, dense front of 2**15 points; the true hypervolume
# fraction after 20 experiments, identical in three runs:
#   seed        0      1      2
#   gp      0.813  0.755  0.729    (median 0.755; analytic log-EHVI, 2026-11-25)
#   gp      0.732  0.798  0.726    (median 0.732; with the cell's prior, and the
#                                   model taking over once the design is suggested,
#                                   2026-12-01)
#   random  0.646  0.631  0.687    (median 0.646)
# so gp leads by 0.086 at the median (and its worst seed beats random's best).
GP_MARGIN = 0.05


@pytest.mark.slow
def test_gp_beats_random_on_the_cell() -> None:
    spec, definition = resolve_simulator("li2s_si")
    truth = true_front(spec, definition, n_points=2**15)
    final: dict[str, list[float]] = {"gp": [], "random": []}
    for strategy, seed in [(s, k) for s in final for k in range(3)]:
        result = run_replay(
            spec,
            ReplayConfig(strategy, seed, budget=20, batch=4, channels=4),
            definition=definition,
            truth=truth,
        )
        final[strategy].append(float(result.trajectory["hv_fraction"].iloc[-1]))
    gp, rnd = np.median(final["gp"]), np.median(final["random"])
    assert gp >= rnd + GP_MARGIN, final
