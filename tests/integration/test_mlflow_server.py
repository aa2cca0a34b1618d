"""The MLflow mirror against a real ``mlflow server``, including an outage.

A session fixture starts ``mlflow server`` on 127.0.0.1 with a SQLite backend store in
a temporary folder, polls ``/health``, and stops it by pid (its children first). The
outage test stops it mid-campaign and starts it again on the same store and port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doe import Campaign
from doe.exceptions import TrackingWarning
from tests.conftest import mlflow_runs, toy_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.mlflow_server]

START_TIMEOUT_S = 120.0
SERIES = [201.0, 199.5, 198.7]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """One ``mlflow server`` process on a fixed port and store; start, stop, again."""

    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "server.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no huey workers to reap
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.base}/mlflow.db",
            "--default-artifact-root", str(self.base / "artifacts"),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited: {self.log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"mlflow server did not start: {self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        """Terminate the server and its children (uvicorn), each by pid."""
        import psutil

        if self.proc is None:
            return
        procs = []
        if self.proc.poll() is None:
            parent = psutil.Process(self.proc.pid)
            procs = [*parent.children(recursive=True), parent]
        for p in procs:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=20)
        for p in alive:
            p.kill()
        self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture(name="mlflow_server", scope="session")
def fixture_mlflow_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[_Server]:
    server = _Server(tmp_path_factory.mktemp("mlflow-server"), _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _runs(client: Any, experiment: str) -> dict[tuple[str, str], Any]:
    return mlflow_runs(client, experiment)


def test_runs_appear_on_the_server(
    mlflow_server: _Server, toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    from mlflow import MlflowClient

    c = Campaign.create(
        dict(toy_dict, name="toy-live", strategy="sobol"),
        storage=sqlite_url,
        tracking_uri=mlflow_server.url,
    )
    batch = c.suggest(2, operator="ana")
    c.record(
        batch[0].trial_id,
        toy_outcomes(batch[0].params),
        series={"capacity_mah_g": SERIES},
    )
    assert c.tracking_status == "ok"
    client = MlflowClient(mlflow_server.url)
    runs = _runs(client, "toy-live")
    assert sorted(runs) == [("round", "1"), ("trial", "0"), ("trial", "1")]
    run = runs["trial", "0"]
    assert run.info.status == "FINISHED"
    assert run.data.params["temp_c__C"] == repr(batch[0].params["temp_c"])
    assert run.data.metrics["yield_pct"] == toy_outcomes(batch[0].params)["yield_pct"]
    history = client.get_metric_history(run.info.run_id, "capacity_mah_g")
    assert [m.value for m in history] == SERIES
    assert runs["trial", "1"].info.status == "RUNNING"
    names = {f.path for f in client.list_artifacts(runs["round", "1"].info.run_id)}
    assert names == {"suggestions.csv", "pareto.png", "model.json"}
    assert c.sync_tracking().changed == 0


def test_outage_blocks_nothing_and_sync_loses_nothing(
    mlflow_server: _Server, toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    from mlflow import MlflowClient

    c = Campaign.create(
        dict(toy_dict, name="toy-outage", strategy="sobol"),
        storage=sqlite_url,
        tracking_uri=mlflow_server.url,
    )
    first = c.suggest(2, operator="ana")
    c.record(first[0].trial_id, toy_outcomes(first[0].params))
    mlflow_server.stop()
    try:
        start = time.monotonic()
        with pytest.warns(TrackingWarning, match="is behind"):
            second = c.suggest(2, operator="bo")
        assert time.monotonic() - start < 30, "suggest blocked on a dead server"
        assert c.tracking_status.startswith("behind: ")
        for action in (
            lambda: c.record(
                first[1].trial_id, toy_outcomes(first[1].params), operator="bo"
            ),
            lambda: c.record(second[0].trial_id, toy_outcomes(second[0].params)),
            lambda: c.fail(second[1].trial_id, "build_failed", "cracked electrolyte"),
        ):
            start = time.monotonic()
            action()
            assert time.monotonic() - start < 30, "a write blocked on a dead server"
        assert c.counts() == {"pending": 0, "complete": 3, "failed": 1, "abandoned": 0}
    finally:
        mlflow_server.start()  # the same store and port
    report = c.sync_tracking()
    # trial 1 was pending in MLflow; trials 2, 3 and round 2 were never logged
    assert (report.created, report.updated, report.removed) == (3, 1, 0)
    assert c.tracking_status == "ok"
    runs = _runs(MlflowClient(mlflow_server.url), "toy-outage")
    assert len(runs) == len(c.trials()) + 2
    for t in c.trials():
        run = runs["trial", str(t.number)]
        assert run.data.tags["doe.state"] == t.state
        assert {k: run.data.metrics[k] for k in t.outcomes} == t.outcomes
    assert runs["trial", "1"].data.tags["doe.recorded_by"] == "bo"
    assert runs["trial", "3"].info.status == "FAILED"
    assert runs["round", "2"].data.tags["doe.trials"] == "2,3"
    again = c.sync_tracking()
    assert (again.created, again.updated, again.removed) == (0, 0, 0)
    assert again.unchanged == len(runs)
