"""Lab setups (batch sizes x test channels) compared in one sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from doe.replay import (
    LabSetup,
    SweepProgress,
    SweepSettingsError,
    lab_setups,
    run_setups,
)
from tests.doe.replay import toy_options, toy_sweep

TOY = "tests.doe.replay:ToyLab"


def _setups(toy_file: Path, out: Path, **kwargs: Any) -> Any:
    setups = {"batches": [1, 2, 8], "channels": [2, 4], **kwargs}
    options = toy_options(toy_file, out, **setups)
    del options["batch"]
    return run_setups(TOY, **options)


def test_lab_setups_are_the_combinations_whose_batch_fits() -> None:
    setups, left_out = lab_setups([1, 4, 4, 8], [8, 4])
    assert setups == (
        LabSetup(1, 8), LabSetup(1, 4), LabSetup(4, 8), LabSetup(4, 4), LabSetup(8, 8),
    )  # fmt: skip
    assert left_out == (LabSetup(8, 4),)
    assert str(LabSetup(4, 8)) == "batch 4, 8 channels"
    assert LabSetup(4, 8).slug == "b4-k8"
    with pytest.raises(SweepSettingsError, match=r"Batch sizes must be whole numbers"):
        lab_setups([0, 2], [4])
    with pytest.raises(SweepSettingsError, match=r"Channel counts .* got \[\]"):
        lab_setups([2], [])
    with pytest.raises(SweepSettingsError, match="No lab setup can run"):
        lab_setups([8], [2, 4])


def test_setups_are_one_table_of_ordinary_resumable_sweeps(
    toy_file: Path, tmp_path: Path
) -> None:
    import matplotlib.image

    out = tmp_path / "setups"
    events: list[SweepProgress] = []
    result = _setups(toy_file, out, progress=events.append)
    assert result.left_out == (LabSetup(8, 2), LabSetup(8, 4))
    assert [s.slug for s, _ in result.sweeps] == ["b1-k2", "b1-k4", "b2-k2", "b2-k4"]
    assert result.n_run == 16 and result.n_skipped == 0
    assert events[-1].total == 16 and events[-1].done == 16
    assert [e.done for e in events if e.last] == list(range(1, 17))
    assert any(e.last and e.last[0] == "sobol (batch 2, 4 channels)" for e in events)

    # each setup is an ordinary sweep folder: a single run_sweep reuses all of it
    for setup, sweep in result.sweeps:
        assert sweep.out == out / setup.slug
        assert len(list((sweep.out / "runs").glob("*.csv"))) == 4
        alone = toy_sweep(
            toy_file, sweep.out, batch=setup.batch, channels=setup.channels
        )
        assert alone.n_run == 0
    summary = pd.read_csv(result.files["summary"])
    assert list(summary.columns[:3]) == ["strategy", "batch", "channels"]
    assert list(summary["strategy"]) == [*["sobol"] * 4, *["random"] * 4,
                                         "best possible set"]  # fmt: skip
    rows = summary.set_index(["strategy", "batch", "channels"]).sort_index()
    for setup, sweep in result.sweeps:
        own = sweep.summary.set_index("strategy")
        for strategy in ("sobol", "random"):
            assert rows.loc[(strategy, setup.batch, setup.channels), "hv_8_median"] == (
                pytest.approx(own.loc[strategy, "hv_8_median"])
            )
    # sobol ignores the results, so every setup tries the same settings ...
    sobol = rows.loc["sobol", "hv_8_median"]
    assert sobol.nunique() == 1
    # ... and more channels finish the same budget sooner
    days = rows["lab_days_median"]
    for strategy in ("sobol", "random"):
        for batch in (1, 2):
            assert days[(strategy, batch, 4)] < days[(strategy, batch, 2)]
    traj = pd.read_csv(result.files["trajectories"])
    assert len(traj) == 4 * 2 * 2 * 8
    assert {"batch", "channels"} <= set(traj.columns)
    for path in result.files["plots"]:
        assert path.parent == out
        assert matplotlib.image.imread(path).shape[0] > 100

    # resume: only the missing replay runs again
    (out / "b2-k4" / "runs" / "random-1.csv").unlink()
    again = _setups(toy_file, out)
    assert again.n_run == 1 and again.n_skipped == 15
    pd.testing.assert_frame_equal(again.summary, result.summary)


def test_setups_check_every_folder_before_running_any(
    toy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "setups"
    toy_sweep(toy_file, out / "b2-k4", batch=2, channels=4, budget=6)
    with pytest.raises(SweepSettingsError, match=r"b2-k4 holds a replay sweep with "
                       r"other settings \(budget: 6 -> 8\)"):  # fmt: skip
        _setups(toy_file, out, batches=[1, 2], channels=[4])
    assert sorted(p.name for p in out.iterdir()) == ["b2-k4"]  # b1-k4 not begun


def test_setups_log_one_mlflow_sweep_per_setup(
    toy_file: Path, tmp_path: Path, mlflow_tmp_store: str
) -> None:
    from mlflow import MlflowClient

    result = _setups(
        toy_file, tmp_path / "s", batches=[1, 2], channels=[2], seeds=1,
        strategies=["sobol"], tracking=True,
    )  # fmt: skip
    assert len(result.tracking) == 2
    client = MlflowClient(tracking_uri=mlflow_tmp_store)
    batches = []
    for log in result.tracking:
        parent = client.get_run(log.run_id)
        batches.append(parent.data.params["batch"])
        assert parent.data.params["channels"] == "2"
        setup = f"b{parent.data.params['batch']}-k2"
        assert parent.info.run_name == f"sweep-s-{setup}"
        assert parent.data.tags["doe.setup"] == setup
        assert parent.data.tags["doe.setups"] == str((tmp_path / "s").resolve())
        assert len(log.children) == 1
    assert batches == ["1", "2"]
