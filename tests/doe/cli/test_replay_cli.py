"""`doe replay` and `doe demo` end to end, in-process (typer's CliRunner)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from doe.cli import app
from tests.doe.replay import write_toy_toml

TOY = "tests.doe.replay:ToyLab"


def test_replay_end_to_end_with_a_generic_simulator(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "replay", "--simulator", TOY, "--campaign-file", str(write_toy_toml(tmp_path)),
        "--budget", "8", "--batch", "2", "--channels", "4", "--seeds", "2",
        "--strategies", "sobol,random", "--budgets", "4,8", "--jobs", "1",
        "--out", str(out), "--dense-points", "256", "--no-tracking",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    text = result.stdout
    for needle in ("True hypervolume fraction", "N=4", "N=8", "days to 90%",
                   "sobol", "random", "best possible set (greedy)",
                   "Best possible set of 40 settings", "MLflow: tracking off"):  # fmt: skip
        assert needle in text, needle
    assert re.search(r"sobol\s+\W\s+\d\.\d{3} \[\d\.\d{3}-\d\.\d{3}\]", text)
    assert (out / "summary.csv").is_file() and (out / "hv_vs_lab_days.png").is_file()
    assert len(pd.read_csv(out / "trajectories.csv")) == 2 * 2 * 8
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "Replays run: 0, reused" in again.stdout
    changed = CliRunner().invoke(app, [*args[:-1], "--batch", "4", "--no-tracking"])
    assert changed.exit_code == 2 and "other settings (batch: 2 -> 4)" in changed.stderr


def test_replay_with_batches_that_share_a_knob(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "replay", "--simulator", TOY, "--campaign-file", str(write_toy_toml(tmp_path)),
        "--budget", "8", "--batch", "2", "--channels", "4", "--seeds", "1",
        "--strategies", "sobol", "--jobs", "1", "--shared", "temp_c",
        "--out", str(out), "--dense-points", "256", "--no-tracking",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    runs = pd.read_csv(out / "runs" / "sobol-0.csv")
    assert runs["temp_c"].nunique() == 4 and runs["conc_mol_l"].nunique() == 8
    plain = CliRunner().invoke(
        app, [a for a in args if a not in ("--shared", "temp_c")]
    )
    assert plain.exit_code == 2 and "other settings" in plain.stderr  # not mixed
    bad = CliRunner().invoke(app, [*args[:-5], "--shared", "tmp_c", "--no-tracking"])
    assert bad.exit_code == 2
    assert "Unknown parameter 'tmp_c' to share in --shared" in bad.stderr


def test_replay_compares_gp_variants(tmp_path: Path) -> None:
    toy = write_toy_toml(tmp_path)
    toy.write_text(toy.read_text() + "\n[gp]\nmaxiter_fit = 40\n")
    args = [
        "replay", "--simulator", TOY, "--campaign-file", str(toy),
        "--budget", "6", "--batch", "2", "--channels", "2", "--seeds", "1",
        "--strategies", "gp[num_restarts=2,trust_length=off],sobol", "--jobs", "1",
        "--levels", "50",
        "--out", str(tmp_path / "sweep"), "--dense-points", "256", "--no-tracking",
    ]  # fmt: skip
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "gp[num_restarts=2,trust_length=off]" in result.stdout
    assert "days to 50%" in result.stdout and "days to 90%" not in result.stdout
    assert (
        "gp rows ran with the campaign file's [gp] settings: maxiter_fit = 40"
        in " ".join(result.stdout.split())
    )
    summary = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert list(summary["strategy"])[:2] == [
        "gp[num_restarts=2,trust_length=off]",
        "sobol",
    ]


def test_replay_compares_lab_setups(tmp_path: Path) -> None:
    out = tmp_path / "setups"
    args = [
        "replay", "--simulator", TOY, "--campaign-file", str(write_toy_toml(tmp_path)),
        "--budget", "6", "--batch", "1,4", "--channels", "2,4", "--seeds", "1",
        "--strategies", "sobol", "--jobs", "1", "--out", str(out),
        "--dense-points", "256", "--no-tracking",
    ]  # fmt: skip
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    text = " ".join(result.stdout.split())
    for needle in ("batch", "channels", "lab days for N=6",
                   "Left out (a batch has to fit in the free channels): batch 4, 2 "
                   "channels.", "Replays run: 3, reused: 0, in 3 setups.",
                   f"{out}/{{b1-k2,b1-k4,b4-k4}}"):  # fmt: skip
        assert needle in text, needle
    rows = re.findall(r"sobol\s+\W\s+(\d)\s+\W\s+(\d)\s+\W", result.stdout)
    assert rows == [("1", "2"), ("1", "4"), ("4", "4")]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["batch"].dropna()) == [1, 1, 4]
    assert (out / "summary.csv").read_text().splitlines()[1].startswith("sobol,1,2,")
    assert (out / "b4-k4" / "summary.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--simulator", TOY], "needs a campaign definition", id="no-toml"),
        pytest.param(["--simulator", "nope"], "Unknown simulator 'nope'", id="name"),
        pytest.param(
            ["--strategies", "gp,best"], "Unknown strategy 'best'", id="strategy"
        ),
        pytest.param(
            ["--strategies", "gp[tail_floor=0.05"], "unbalanced square", id="bracket"
        ),
        pytest.param(
            ["--strategies", "gp[colour=red]"], "Unknown key 'colour'", id="gp-key"
        ),
        pytest.param(["--budgets", "10,x"], "whole numbers", id="budgets"),
        pytest.param(["--batch", "4,x"], "--batch must be whole numbers", id="batch"),
        pytest.param(
            ["--batch", "16", "--channels", "4,8"], "No lab setup can run", id="fit"
        ),
        pytest.param(
            ["--batch", "2,0"], "Batch sizes must be whole numbers >= 1", id="zero"
        ),
        pytest.param(["--levels", "80,x"], "--levels must be percents", id="levels"),
        pytest.param(["--levels", "150"], "at most 100", id="level-high"),
        pytest.param(
            ["--budget", "8", "--budgets", "9"], "from 1 to the budget", id="over"
        ),
    ],
)
def test_replay_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        app, ["replay", *args, "--out", str(tmp_path / "x"), "--no-tracking"]
    )
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert message in result.stderr


@pytest.mark.slow
def test_demo_runs_a_closed_loop_campaign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_tmp_store: str
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--budget", "12", "--seed", "1"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    text = result.stdout
    sections = [
        "Nominal cell: seed paper vs simulated cell",
        "Pareto front found",
        "Best cell for each objective",
        "Hypervolume reached",
        "MLflow: experiment 'li2s-si-demo-",
    ]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions), "sections in order, nominal cell first"
    for needle in ("827", "67.7", "802", "506", "initial capacity", "nitridation_temp_c",
                   "specific_energy_wh_kg", "make mlflow-ui"):  # fmt: skip
        assert needle in text, needle
    assert re.search(r"Hypervolume reached: \d+\.\d% of the true Pareto front", text)
    assert (tmp_path / "demo.db").is_file()
    name = re.search(r"experiment '(li2s-si-demo-[0-9-]+)'", text)
    assert name is not None
    exp = MlflowClient(tracking_uri=mlflow_tmp_store).get_experiment_by_name(name[1])
    assert exp is not None, "the demo campaign is mirrored to MLflow"
    runs = MlflowClient(tracking_uri=mlflow_tmp_store).search_runs([exp.experiment_id])
    trial_runs = [r for r in runs if r.data.tags.get("doe.kind") == "trial"]
    assert len(trial_runs) == 12
    # the printed predict command works on the demo's ledger
    hint = re.search(
        r"`(doe --storage \S+ --campaign \S+) predict ", " ".join(text.split())
    )
    assert hint is not None
    _, _, storage, _, campaign = hint[1].split()
    knobs = ["co_precursor_g=0.4", "nitridation_temp_c=450", "li2s_loading_mg_cm2=2",
             "eo_li_ratio=16", "np_ratio=1.2"]  # fmt: skip
    asked = CliRunner().invoke(
        app, ["--storage", storage, "--campaign", campaign, "--no-tracking",
              "predict", *knobs, "-f", "json"],
    )  # fmt: skip
    assert asked.exit_code == 0, (asked.stderr, asked.exception)
    assert '"est_safety_score"' in asked.stdout
