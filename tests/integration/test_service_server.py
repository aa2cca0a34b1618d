"""``doe serve`` as a real process on 127.0.0.1, with 16 lab clients at once.

The server is started as ``python -m doe --storage URL --no-tracking serve --port P``
on a temporary SQLite ledger, polled on ``/healthz`` until it answers, and stopped by
pid. Sixteen threads (one staff member each, with httpx) pull experiments (first
the owner's batch of 16, then new ones) and post their results at the same time;
afterwards the ledger is read with ``Campaign.load``: no experiment was handed out
twice, and nothing was lost.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from doe.campaign import Campaign
from doe.service.auth import AuthStore
from tests.conftest import TOY, toy_outcomes

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 60.0
N_CLIENTS = 16
N_EACH = 2
TOY_SOBOL: dict[str, Any] = {**TOY, "strategy": "sobol", "tracking": False}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DoeServer:
    """A running ``doe serve`` process."""

    proc: subprocess.Popen[bytes]
    url: str
    storage: str
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def log_tail(self) -> str:
        """The end of the server's output, for failure messages."""
        return self.log.read_text(errors="replace")[-3000:]


def _wait_until_up(server: DoeServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"doe serve exited early:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"doe serve did not answer in {START_TIMEOUT_S} s:\n{server.log_tail()}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@contextmanager
def doe_server(folder: Path, users: dict[str, str]) -> Iterator[DoeServer]:
    """Create the toy campaign and ``users`` (name -> role), and serve the ledger."""
    storage = f"sqlite:///{folder}/doe.db"
    Campaign.create(TOY_SOBOL, storage, tracking=False)
    store = AuthStore(storage)
    tokens = {name: store.add_user(name, role) for name, role in users.items()}
    store.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOE_")}
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "doe", "--storage", storage, "--no-tracking",
                "serve", "--port", str(port),
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = DoeServer(proc, f"http://127.0.0.1:{port}", storage, log, tokens)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(proc)


def _request(client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    """A request that honours 503 + Retry-After a few times (a patient lab client)."""
    for _ in range(10):
        r = client.request(method, path, **kw)
        if r.status_code != 503:
            return r
        time.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))
    return r


@dataclass
class _Outcome:
    user: str
    done: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


def _lab_worker(server: DoeServer, user: str, start: threading.Barrier) -> _Outcome:
    out = _Outcome(user)
    headers = {"Authorization": f"Bearer {server.tokens[user]}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
        start.wait()
        for _ in range(N_EACH):
            pulled = _request(client, "POST", "/api/campaigns/toy/pull")
            out.statuses.append(pulled.status_code)
            assert pulled.status_code == 200, pulled.text
            trial = pulled.json()
            assert trial["claimed_by"] == user
            values = toy_outcomes(trial["params"])
            path = f"/api/campaigns/toy/trials/{trial['trial']}/result"
            posted = _request(client, "POST", path, json={"outcomes": values})
            out.statuses.append(posted.status_code)
            assert posted.status_code == 201, posted.text
            out.done.append((trial["trial"], values))
        # a retry of the last post (a lost answer, say) is answered, not written twice
        again = _request(client, "POST", path, json={"outcomes": values})
        assert again.status_code == 200 and again.json() == posted.json()
        differs = {**values, "yield_pct": values["yield_pct"] + 1.0}
        assert (
            _request(client, "POST", path, json={"outcomes": differs}).status_code
            == 409
        )
    return out


def test_sixteen_clients_get_distinct_experiments_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    users = {f"lab{i:02d}": "staff" for i in range(N_CLIENTS)}
    with doe_server(tmp_path, {**users, "boss": "owner"}) as server:
        boss = {"Authorization": f"Bearer {server.tokens['boss']}"}
        batch = httpx.post(
            f"{server.url}/api/campaigns/toy/suggestions",
            headers=boss,
            json={"n": N_CLIENTS},
            timeout=120,
        )
        assert batch.status_code == 201, batch.text  # half the pulls claim these
        start = threading.Barrier(N_CLIENTS)
        with ThreadPoolExecutor(N_CLIENTS) as pool:
            futures = [pool.submit(_lab_worker, server, u, start) for u in users]
            results = [f.result(timeout=300) for f in futures]
        audit = httpx.get(f"{server.url}/api/audit?limit=1000", headers=boss).json()
        assert server.proc.poll() is None, server.log_tail()
    assert server.proc.returncode is not None  # stopped by pid

    numbers = [n for r in results for n, _ in r.done]
    assert len(numbers) == N_CLIENTS * N_EACH
    assert len(set(numbers)) == len(numbers), "an experiment was handed out twice"
    campaign = Campaign.load("toy", server.storage, tracking=False)
    trials = {t.number: t for t in campaign.trials()}
    assert sorted(trials) == sorted(numbers)  # nothing extra, nothing lost
    for r in results:
        for n, values in r.done:
            t = trials[n]
            assert t.state == "complete"
            assert t.attrs["recorded_by"] == r.user
            assert t.attrs["asked_by"] == (r.user if n >= N_CLIENTS else "boss")
            assert t.outcomes == pytest.approx(values, rel=1e-12)
    assert sum(a["action"] == "record" for a in audit) == N_CLIENTS * N_EACH
    assert sum(a["action"] == "pull" for a in audit) == N_CLIENTS * N_EACH
    busy = sum(s == 503 for r in results for s in r.statuses)
    print(
        f"16 clients: {len(numbers)} experiments, distinct, all recorded; 503s: {busy}"
    )


def test_the_server_binds_only_to_the_loopback_interface(tmp_path: Path) -> None:
    with doe_server(tmp_path, {"ana": "viewer"}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        r = httpx.get(
            f"{server.url}/api/me",
            headers={"Authorization": f"Bearer {server.tokens['ana']}"},
        )
        assert r.json() == {"name": "ana", "role": "viewer"}
        outside = _non_loopback_address()
        if outside is not None:
            with pytest.raises(OSError), socket.create_connection((outside, port), 2):
                pass


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than 127.x, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address
