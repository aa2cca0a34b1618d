"""The simulated lab clock and the replay loop on it (out of order, pending points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import doe.strategies
from doe import Campaign
from doe.exceptions import DoeError
from doe.replay import ReplayConfig, SimulatedLab, run_replay
from doe.replay.simulator import resolve_simulator
from doe.replay.truth import true_front
from tests.doe.replay import write_toy_toml

TOY = "tests.doe.replay:ToyLab"


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOE_CACHE_DIR", str(tmp_path / "cache"))


def test_results_come_back_in_completion_order() -> None:
    lab = SimulatedLab(3)
    for trial, hours in ((0, 30.0), (1, 10.0), (2, 20.0)):
        lab.start(trial, duration_h=hours, payload=f"p{trial}")
    assert lab.n_free == 0 and lab.n_running == 3
    with pytest.raises(DoeError, match="All 3 channels are busy"):
        lab.start(3, duration_h=1.0)
    first = lab.finish_next()
    assert [(e.trial_id, e.payload, e.channel) for e in first] == [(1, "p1", 1)]
    assert lab.now_h == 10.0 and lab.n_free == 1
    again = lab.start(3, duration_h=20.0)  # reuses the freed channel, ends at 30 h
    assert again.channel == 1 and again.end_h == 30.0
    assert [e.trial_id for e in lab.finish_next()] == [2]
    # two experiments ending at the same time come back together, in start order
    assert [e.trial_id for e in lab.finish_next()] == [0, 3]
    assert lab.now_h == 30.0 and lab.lab_days == pytest.approx(1.25)
    with pytest.raises(DoeError, match="No experiment is running"):
        lab.finish_next()


@pytest.mark.parametrize(
    ("channels", "hours"),
    [pytest.param(0, 1.0, id="no-channels"), pytest.param(2, -1.0, id="negative")],
)
def test_lab_rejects_bad_values(channels: int, hours: float) -> None:
    with pytest.raises(DoeError, match="channels|duration"):
        SimulatedLab(channels).start(0, duration_h=hours)


def test_replay_refills_channels_and_suggest_sees_running_experiments_as_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []  # pending trials each strategy call saw
    original = doe.strategies.make_strategy

    def spying_make_strategy(*args: Any, **kwargs: Any) -> Any:
        strategy = original(*args, **kwargs)
        propose = strategy.propose

        def spy(history: Any, n: int) -> Any:
            seen.append(len(history.pending))
            return propose(history, n)

        strategy.propose = spy
        return strategy

    monkeypatch.setattr(doe.strategies, "make_strategy", spying_make_strategy)
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    truth = true_front(spec, definition, n_points=256)
    storage = f"sqlite:///{tmp_path}/replay.db"
    steps: list[dict[str, Any]] = []
    result = run_replay(
        spec,
        ReplayConfig("sobol", seed=1, budget=11, batch=2, channels=5),
        definition=definition,
        truth=truth,
        storage=storage,
        on_step=steps.append,
    )
    traj = result.trajectory
    # start: ceil(5 / 2) = 3 asks of 2, 2 and 1; later asks of 2 when 2 channels are free
    assert [a.n for a in result.asks] == [2, 2, 1, 2, 2, 2]
    assert [a.n_pending for a in result.asks[:3]] == [0, 2, 4]
    assert all(a.n_pending == 5 - 2 for a in result.asks[3:])
    assert seen == [a.n_pending for a in result.asks]
    assert all(a.lab_h > 0 for a in result.asks[3:])
    # out of order: durations depend on the settings
    assert list(traj["trial_id"]) != sorted(traj["trial_id"])
    assert sorted(traj["trial_id"]) == list(range(11))
    assert traj["lab_days"].is_monotonic_increasing
    assert list(traj["n_completed"]) == list(range(1, 12))
    assert len(steps) == 11 and steps[-1]["n_completed"] == 11
    # the ledger has every experiment, failures with their kind
    campaign = Campaign.load(result.campaign, storage, tracking=False)
    trials = {t.number: t for t in campaign.trials()}
    assert {t.state for t in trials.values()} <= {"complete", "failed"}
    for row in traj.itertuples():
        t = trials[row.trial_id]
        assert t.state == ("failed" if row.failed else "complete")
        if row.failed:
            assert t.failure_kind == "build_failed" == row.failure_kind
        else:
            assert set(t.outcomes) == {"yield_pct", "cost_eur", "purity_pct"}
    assert traj["n_failed"].iloc[-1] == traj["failed"].sum()


def test_gp_design_is_as_long_as_configured_with_many_channels(
    tmp_path: Path,
) -> None:
    # 5 channels, a design of 4: the first ask fills 2 + 2 + 1 channels before any
    # result is back. The design must stay 4 experiments that give a result (failed
    # ones are replaced) and the model take over while some are still running; it
    # used to ask for space-filling points until 4 results were back.
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    storage = f"sqlite:///{tmp_path}/replay.db"
    result = run_replay(
        spec,
        ReplayConfig("gp", seed=3, budget=10, batch=2, channels=5),
        definition=definition,
        truth=true_front(spec, definition, n_points=256),
        storage=storage,
    )
    trials = Campaign.load(result.campaign, storage, tracking=False).trials()
    by_number = {t.number: t for t in trials}
    reasons = {t.number: t.attrs["provenance"]["reason"] for t in trials}
    design = [t for t in trials if reasons[t.number].startswith("initial design")]
    assert sum(t.state != "failed" for t in design) == definition.n_initial == 4
    model = [n for n, why in reasons.items() if why.startswith("model")]
    assert len(model) >= 10 - len(design) - 1  # at most one fallback point
    # the first model proposal came before the whole design had been measured
    first_model = min(model)
    done_then = [
        t
        for t in design
        if t.finished_at is not None
        and t.finished_at <= by_number[first_model].created_at
        and t.state == "complete"
    ]
    assert len(done_then) < definition.n_initial


def test_trajectory_counts_true_outcomes_only_when_limits_are_met(
    tmp_path: Path,
) -> None:
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    truth = true_front(spec, definition, n_points=512)
    result = run_replay(
        spec,
        ReplayConfig("random", seed=4, budget=12, batch=4, channels=4),
        definition=definition,
        truth=truth,
    )
    traj = result.trajectory
    assert traj["hypervolume"].is_monotonic_increasing
    assert (traj["hv_fraction"] <= 1.0 + 1e-9).all()
    purity_ok = (traj["true_yield_pct"].notna()) & ~traj["violates_limits"]
    assert traj["n_violating"].iloc[-1] == (~purity_ok).sum()
    for row in traj.itertuples():
        if row.failed or row.violates_limits:  # adds no hypervolume
            before = traj.loc[traj["n_completed"] == row.n_completed - 1, "hypervolume"]
            assert row.hypervolume == (before.iloc[0] if len(before) else 0.0)


def test_seed_only_simulator_without_duration_takes_a_day(tmp_path: Path) -> None:
    spec, definition = resolve_simulator(
        "tests.doe.replay:SeedOnlyLab", write_toy_toml(tmp_path)
    )
    assert not spec.takes_noise and spec.version == "toy-1"
    result = run_replay(
        spec,
        ReplayConfig("sobol", seed=0, budget=6, batch=3, channels=3),
        definition=definition,
        truth=true_front(spec, definition, n_points=64),
    )
    days = result.trajectory["lab_days"].tolist()
    assert days == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]  # default 24 h, channels refilled


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"batch": 5, "channels": 4}, "at most the number", id="batch"),
        pytest.param({"budget": 0}, "budget must be", id="budget"),
        pytest.param({"strategy": "nope"}, "Unknown strategy", id="strategy"),
    ],
)
def test_replay_config_is_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(DoeError, match=match):
        ReplayConfig(**kwargs)


def test_a_replay_whose_batches_share_a_knob(tmp_path: Path) -> None:
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    truth = true_front(spec, definition, n_points=256)
    result = run_replay(
        spec,
        ReplayConfig(
            "sobol", seed=1, budget=8, batch=2, channels=4, shared=("temp_c",)
        ),
        definition=definition,
        truth=truth,
    )
    traj = result.trajectory.set_index("trial_id").sort_index()
    for ask in result.asks:
        temps = {traj.loc[t, "temp_c"] for t in ask.trial_ids}
        assert len(temps) == 1, ask  # one furnace run per batch
    assert traj["temp_c"].nunique() == len(result.asks) == 4
    assert traj["conc_mol_l"].nunique() == 8
