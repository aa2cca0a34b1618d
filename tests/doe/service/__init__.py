"""Tests of the lab web service (doe.service); helpers shared by the test modules."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from doe.campaign import Campaign
from doe.service import Settings, create_app
from doe.service.auth import AuthStore
from tests.conftest import TOY, toy_outcomes

with warnings.catch_warnings():
    # Starlette 1.x asks for the httpx2 package in its TestClient and warns when it
    # falls back to httpx (installed here); the client works the same with either.
    warnings.filterwarnings(
        "ignore",
        message="Using `httpx` with `starlette.testclient` is deprecated",
    )
    from fastapi.testclient import TestClient

__all__ = [
    "USERS",
    "Service",
    "TestClient",
    "running_service",
    "seed_ledger",
    "sobol_toy",
]

# name -> role; two staff members to check that claims are personal
USERS = {"vera": "viewer", "sam": "staff", "tim": "staff", "olga": "owner"}


def sobol_toy(**changes: Any) -> dict[str, Any]:
    """The toy campaign with the fast ``sobol`` strategy and no MLflow mirror."""
    return {**TOY, "strategy": "sobol", "tracking": False, **changes}


@dataclass
class Service:
    """A service on a temporary ledger, its client and its users' tokens."""

    client: TestClient
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user: str) -> dict[str, str]:
        """The Authorization header of ``user``."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def campaign(self, name: str = "toy") -> Campaign:
        """The campaign as the Python API sees it (the ledger is the truth)."""
        return Campaign.load(name, self.url, tracking=False)

    def pull(self, user: str = "sam", name: str = "toy") -> dict[str, Any]:
        """Pull an experiment through the API (asserting success)."""
        r = self.client.post(f"/api/campaigns/{name}/pull", headers=self.auth(user))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def measure(self, n: int, user: str = "sam") -> None:
        """Pull ``n`` toy experiments and post their results through the API."""
        for _ in range(n):
            t = self.pull(user)
            r = self.client.post(
                f"/api/campaigns/toy/trials/{t['trial']}/result",
                headers=self.auth(user),
                json={"outcomes": toy_outcomes(t["params"])},
            )
            assert r.status_code == 201, r.text


_TEMPLATES: dict[str, tuple[Path, dict[str, str]]] = {}
_TEMPLATE_DIR = tempfile.TemporaryDirectory(prefix="doe-service-")
atexit.register(_TEMPLATE_DIR.cleanup)


def _seed(url: str, campaign: dict[str, Any] | None) -> dict[str, str]:
    if campaign is not None:
        Campaign.create(campaign, url, tracking=False)
    store = AuthStore(url)
    tokens = {name: store.add_user(name, role) for name, role in USERS.items()}
    store.dispose()
    return tokens


def seed_ledger(url: str, campaign: dict[str, Any] | None) -> dict[str, str]:
    """Put ``campaign`` and the users into a new SQLite ledger; their tokens.

    Creating the schema takes about a second, so each kind of ledger is made once
    and copied.
    """
    path = Path(sa.make_url(url).database or "")
    key = json.dumps(campaign, sort_keys=True)
    if key not in _TEMPLATES:
        template = Path(_TEMPLATE_DIR.name) / f"{len(_TEMPLATES)}.db"
        _TEMPLATES[key] = (template, _seed(f"sqlite:///{template}", campaign))
    template, tokens = _TEMPLATES[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return tokens


@contextmanager
def running_service(
    url: str, *, campaign: dict[str, Any] | None = None, **settings: Any
) -> Iterator[Service]:
    """Create the toy campaign and the users, and serve the ledger in-process."""
    tokens = seed_ledger(url, campaign)
    app = create_app(Settings(storage=url, tracking=False, **settings))
    with TestClient(app) as client:
        yield Service(client, url, tokens)
