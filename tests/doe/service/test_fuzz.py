"""Fuzzing the JSON API from its OpenAPI schema (schemathesis): never a 5xx.

Every operation gets schema-valid and schema-invalid requests (schemathesis'
positive and negative modes) with an owner's token. Path parameters are pointed at
the real campaign and its trials most of the time, so that request bodies reach the
Campaign's own validation instead of stopping at a 404.

The schema is loaded when the module is collected, from an app whose ledger
folder does not exist yet (nothing is written then); ``fixture_ledger`` creates and
seeds it before the first request.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (pip install schemathesis)"
)

from hypothesis import HealthCheck, settings  # noqa: E402 (after the importorskip)

from doe.service import Settings, create_app  # noqa: E402
from tests.doe.service import TestClient, seed_ledger, sobol_toy  # noqa: E402

N_TRIALS = 6
_DIR = Path(tempfile.mkdtemp(prefix="doe-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
URL = f"sqlite:///{_DIR}/ledger/doe.db"
APP = create_app(Settings(storage=URL, tracking=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
TOKENS: dict[str, str] = {}
STATUSES: Counter[int] = Counter()


@pytest.fixture(name="ledger", scope="module")
def fixture_ledger() -> str:
    """The seeded ledger: the toy campaign, the users, a few pending trials."""
    if not TOKENS:
        TOKENS.update(seed_ledger(URL, sobol_toy()))
        with TestClient(APP) as client:
            r = client.post(
                "/api/campaigns/toy/suggestions",
                headers={"Authorization": f"Bearer {TOKENS['olga']}"},
                json={"n": N_TRIALS},
            )
            assert r.status_code == 201, r.text
    return URL


def _aim(case: Any) -> None:
    """Point the path at the real campaign and trials (four times in five).

    Valid batch sizes above 4 are cut to 1-4, to keep the ledger (and the run) small.
    """
    body = case.body
    if isinstance(body, dict) and type(body.get("n")) is int and 4 < body["n"] <= 64:
        body["n"] = 1 + body["n"] % 4
    params = case.path_parameters or {}
    if "name" in params and hash(repr(params)) % 5:
        params["name"] = "toy"
    trial = params.get("trial")
    if isinstance(trial, int) and not isinstance(trial, bool) and trial >= 0:
        params["trial"] = trial % (N_TRIALS + 2)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case: Any, ledger: str) -> None:
    _aim(case)
    response = case.call(headers={"Authorization": f"Bearer {TOKENS['olga']}"})
    STATUSES[response.status_code] += 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:500]}"
    )
    assert b"Traceback" not in response.content


def test_the_ledger_is_consistent_after_fuzzing(ledger: str) -> None:
    from doe.campaign import Campaign

    print(
        f"fuzz: {sum(STATUSES.values())} requests, by status {sorted(STATUSES.items())}"
    )

    c = Campaign.load("toy", ledger, tracking=False)
    trials = c.trials()
    assert len(trials) >= N_TRIALS
    assert all(
        t.state in ("pending", "complete", "failed", "abandoned") for t in trials
    )
    known = set(c.definition.outcome_names)
    assert all(set(t.outcomes) <= known for t in trials)
