"""Several processes suggesting and recording at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest

from doe import Campaign
from tests.conftest import toy_outcomes

N_WORKERS = 8
ROUNDS = 3


def _worker(args: tuple[str, int]) -> list[int]:
    url, wid = args
    c = Campaign.load("toy", storage=url, tracking=False)
    mine = []
    for _ in range(ROUNDS):
        for s in c.suggest(2, operator=f"w{wid}"):
            c.record(s.trial_id, toy_outcomes(s.params), operator=f"w{wid}")
            mine.append(s.trial_id)
    return mine


def _pull_worker(args: tuple[str, int]) -> int:
    url, wid = args
    return Campaign.load("toy", storage=url, tracking=False).pull(f"w{wid}").trial_id


def _run(url: str, toy_dict: dict[str, Any]) -> None:
    Campaign.create(dict(toy_dict, strategy="sobol"), storage=url)
    ctx = mp.get_context("spawn")
    with ctx.Pool(N_WORKERS) as pool:
        got = pool.map(_worker, [(url, i) for i in range(N_WORKERS)])
    c = Campaign.load("toy", storage=url)
    trials = c.trials()
    ids = [i for batch in got for i in batch]
    assert len(ids) == len(set(ids)) == N_WORKERS * ROUNDS * 2
    assert len(trials) == N_WORKERS * ROUNDS * 2
    assert all(t.state == "complete" for t in trials)
    points = {tuple(t.params.values()) for t in trials}
    assert len(points) == len(trials), "two callers got the same point"
    assert {t.attrs["recorded_by"] for t in trials} == {
        f"w{i}" for i in range(N_WORKERS)
    }


def _run_pulls(url: str, toy_dict: dict[str, Any]) -> None:
    c = Campaign.create(dict(toy_dict, strategy="sobol"), storage=url)
    c.suggest(3)
    ctx = mp.get_context("spawn")
    with ctx.Pool(N_WORKERS) as pool:
        got = pool.map(_pull_worker, [(url, i) for i in range(N_WORKERS)])
    assert len(set(got)) == N_WORKERS
    claimed = {t.number: t.claimed_by for t in c.trials()}
    assert sorted(claimed) == sorted(got)
    assert set(claimed.values()) == {f"w{i}" for i in range(N_WORKERS)}


@pytest.mark.slow
def test_processes_on_sqlite(sqlite_url: str, toy_dict: dict[str, Any]) -> None:
    _run(sqlite_url, toy_dict)


@pytest.mark.slow
def test_pulls_on_sqlite(sqlite_url: str, toy_dict: dict[str, Any]) -> None:
    _run_pulls(sqlite_url, toy_dict)


@pytest.mark.slow
@pytest.mark.postgres
def test_processes_on_postgres(pg_db: str, toy_dict: dict[str, Any]) -> None:
    _run(pg_db, toy_dict)


@pytest.mark.slow
@pytest.mark.postgres
def test_pulls_on_postgres(pg_db: str, toy_dict: dict[str, Any]) -> None:
    _run_pulls(pg_db, toy_dict)


@pytest.mark.postgres
def test_campaign_roundtrip_on_postgres(pg_db: str, toy_dict: dict[str, Any]) -> None:
    c = Campaign.create(dict(toy_dict, strategy="tpe"), storage=pg_db)
    for s in c.suggest(3):
        c.record(s.trial_id, toy_outcomes(s.params))
    again = Campaign.load(storage=pg_db)
    assert again.counts()["complete"] == 3
    assert again.definition == c.definition
