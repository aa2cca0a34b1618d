"""Shared fixtures: a temporary SQLite ledger, a real PostgreSQL server, definitions."""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL_TOML = ROOT / "campaigns" / "li2s_si" / "campaign.toml"

TOY: dict[str, Any] = {
    "name": "toy",
    "description": "two knobs, two objectives, one limit",
    "parameters": [
        {"name": "temp_c", "low": 20.0, "high": 80.0, "unit": "C"},
        {"name": "conc_mol_l", "low": 0.01, "high": 1.0, "unit": "mol/L", "log": True},
    ],
    "objectives": [
        {"name": "yield_pct", "direction": "maximize", "unit": "%", "threshold": 0.0},
        {"name": "cost_eur", "direction": "minimize", "unit": "EUR", "threshold": 10.0},
    ],
    "limits": [{"name": "purity_pct", "op": ">=", "value": 90.0}],
    "outcomes": {"purity_pct": "%"},
    "initial_design": 4,
    "seed": 3,
}


@pytest.fixture(name="mlflow_tmp_store", autouse=True)
def fixture_mlflow_tmp_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Every test tracks into a temporary MLflow store, never the repo's mlflow/.

    One store per session (creating an MLflow schema takes seconds); campaigns of
    the same name from different ledgers get experiments of their own.
    """
    store = tmp_path_factory.getbasetemp() / "mlflow-store"
    store.mkdir(exist_ok=True)
    uri = f"sqlite:///{store}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(name="truth_cache", autouse=True)
def fixture_truth_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """True fronts of replays cache in one temporary folder, never ~/.cache.

    One folder per session: the cell's dense search runs once for all tests.
    """
    folder = tmp_path_factory.getbasetemp() / "replay-truth-cache"
    monkeypatch.setenv("DOE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(name="toy_dict")
def fixture_toy_dict() -> dict[str, Any]:
    return copy.deepcopy(TOY)


@pytest.fixture(name="sqlite_url")
def fixture_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/doe.db"


def toy_outcomes(params: dict[str, float]) -> dict[str, float]:
    """A smooth toy lab: yield peaks at 60 C, cost grows with concentration."""
    t, c = params["temp_c"], params["conc_mol_l"]
    return {
        "yield_pct": 100.0 * (1 - ((t - 60.0) / 60.0) ** 2) * (c / (c + 0.1)),
        "cost_eur": 1.0 + 8.0 * c,
        "purity_pct": 99.0 - 0.15 * abs(t - 50.0),
    }


# ------------------------------------------------------------------ PostgreSQL
def _pg_bin() -> Path | None:
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "pg_ctl").exists():
            return cand
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(name="pg_url", scope="session")
def fixture_pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1, started here and stopped by pid."""
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("DOE_REQUIRE_POSTGRES"):
            pytest.fail("DOE_REQUIRE_POSTGRES is set but no PostgreSQL binaries exist")
        pytest.skip("no PostgreSQL binaries (pg_ctl) on this machine")
    base = tmp_path_factory.mktemp("pg")
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        os.chmod(base, 0o755)
        for parent in base.parents:  # let postgres reach its data directory
            if str(parent) in ("/", "/tmp"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o055)
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = base / "pg.log"
    log_handle = log.open("w")
    proc = subprocess.Popen(
        _as_postgres(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={base}",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off",
            ]
        ),
        stdout=log_handle,
        stderr=subprocess.STDOUT,
    )
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait_pg(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_handle.close()


def _wait_pg(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import sqlalchemy

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {log.read_text()[-2000:]}")
        try:
            engine = sqlalchemy.create_engine(url)
            with engine.connect():
                engine.dispose()
                return
        except sqlalchemy.exc.OperationalError:
            time.sleep(0.2)
    raise RuntimeError(f"postgres did not start: {log.read_text()[-2000:]}")


@pytest.fixture(name="pg_db")
def fixture_pg_db(pg_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    import uuid

    import sqlalchemy

    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    admin.dispose()


def mlflow_runs(client: Any, experiment: str) -> dict[tuple[str, str], Any]:
    """Active MLflow runs by (kind, trial or round number); fails on a duplicate."""
    exp = client.get_experiment_by_name(experiment)
    out: dict[tuple[str, str], Any] = {}
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        kind = run.data.tags["doe.kind"]
        key = (kind, run.data.tags["doe.trial" if kind == "trial" else "doe.round"])
        assert key not in out, f"two runs for {key}"
        out[key] = run
    return out
