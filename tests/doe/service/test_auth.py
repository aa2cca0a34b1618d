"""Sign-in and rights: tokens, roles, `doe users`, `doe serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from doe.cli import app as cli_app
from doe.service.auth import AuthStore, csrf_token
from tests.doe.service import Service, running_service, sobol_toy

# (method, path, least role); trial 0 exists and is pending
ENDPOINTS = [
    ("GET", "/api/me", "viewer"),
    ("GET", "/api/campaigns", "viewer"),
    ("GET", "/api/campaigns/toy", "viewer"),
    ("GET", "/api/campaigns/toy/trials", "viewer"),
    ("GET", "/api/campaigns/toy/trials/0", "viewer"),
    ("GET", "/api/campaigns/toy/pareto", "viewer"),
    ("GET", "/api/campaigns/toy/pareto.png", "viewer"),
    ("GET", "/api/campaigns/toy/export.csv", "viewer"),
    ("POST", "/api/campaigns/toy/pull", "staff"),
    ("POST", "/api/campaigns/toy/trials/0/release", "staff"),
    ("POST", "/api/campaigns/toy/trials/0/result", "staff"),
    ("POST", "/api/campaigns/toy/trials/0/failure", "staff"),
    ("POST", "/api/campaigns", "owner"),
    ("POST", "/api/campaigns/toy/suggestions", "owner"),
    ("GET", "/api/users", "owner"),
    ("GET", "/api/audit", "owner"),
]
BELOW = {"viewer": None, "staff": "vera", "owner": "sam"}


@pytest.fixture(name="svc", scope="module")
def fixture_svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path_factory.mktemp('auth')}/doe.db"
    with running_service(url, campaign=sobol_toy()) as svc:
        svc.client.post(
            "/api/campaigns/toy/suggestions", headers=svc.auth("olga"), json={"n": 1}
        )
        yield svc


@pytest.mark.parametrize(("method", "path", "role"), ENDPOINTS)
def test_every_endpoint_needs_a_valid_token_and_the_role(
    svc: Service, method: str, path: str, role: str
) -> None:
    none = svc.client.request(method, path)
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"
    assert none.json()["error"] == "Unauthorized"
    for bad in ("doe_not-a-token", "x" * 300, ""):
        r = svc.client.request(method, path, headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, (bad, r.text)
    basic = svc.client.request(method, path, headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    below = BELOW[role]
    if below is not None:
        r = svc.client.request(method, path, headers=svc.auth(below))
        assert r.status_code == 403
        assert r.json()["error"] == "Forbidden"
        assert repr(role) in r.json()["detail"]
    assert svc.campaign().trial(0).state == "pending"  # nothing written


def test_revoked_users_lose_their_token_and_sessions(sqlite_url: str) -> None:
    with running_service(sqlite_url, campaign=sobol_toy()) as svc:
        svc.client.post("/login", data={"token": svc.tokens["tim"]})
        assert svc.client.get("/api/me").json()["name"] == "tim"  # cookie, GET
        AuthStore(sqlite_url).revoke_user("tim")
        assert svc.client.get("/api/me", headers=svc.auth("tim")).status_code == 401
        assert svc.client.get("/api/me").status_code == 401
        assert svc.client.get("/api/me", headers=svc.auth("sam")).status_code == 200


def test_the_session_cookie_never_authorizes_api_writes(sqlite_url: str) -> None:
    with running_service(sqlite_url, campaign=sobol_toy()) as svc:
        svc.client.post("/login", data={"token": svc.tokens["sam"]})
        assert svc.client.get("/api/campaigns/toy").status_code == 200
        r = svc.client.post("/api/campaigns/toy/pull")
        assert r.status_code == 401
        assert svc.campaign().counts()["pending"] == 0


def test_tokens_and_sessions_are_stored_hashed(sqlite_url: str) -> None:
    store = AuthStore(sqlite_url)
    token = store.add_user("ana", "staff")
    assert token.startswith("doe_") and len(token) > 40
    assert store.user_for_token(token).name == "ana"  # type: ignore[union-attr]
    assert store.user_for_token(token + "x") is None
    session = store.create_session(store.user_for_token(token), hours=1)  # type: ignore[arg-type]
    assert store.user_for_session(session).name == "ana"  # type: ignore[union-attr]
    assert len(csrf_token(session)) == 64 and csrf_token(session) != session
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        dump = repr(conn.execute(sa.text("SELECT * FROM doe_users")).all())
        dump += repr(conn.execute(sa.text("SELECT * FROM doe_sessions")).all())
    engine.dispose()
    assert token not in dump and session not in dump
    store.delete_session(session)
    assert store.user_for_session(session) is None
    store.dispose()


def test_expired_sessions_do_not_sign_in(sqlite_url: str) -> None:
    store = AuthStore(sqlite_url)
    store.add_user("ana", "staff")
    user = store.list_users()[0]
    session = store.create_session(user, hours=1e-9)
    assert store.user_for_session(session) is None
    store.dispose()


# ----------------------------------------------------------------- CLI
def _doe(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli_app, ["--storage", url, *args])


def test_doe_users_add_list_revoke(sqlite_url: str) -> None:
    added = _doe(sqlite_url, "users", "add", "ana", "--role", "staff")
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("doe_") and "\n" not in token
    assert "shown only now" in added.stderr
    assert AuthStore(sqlite_url).user_for_token(token).role == "staff"  # type: ignore[union-attr]
    twice = _doe(sqlite_url, "users", "add", "ana", "--role", "owner")
    assert twice.exit_code == 1 and "revoke them first" in twice.stderr
    listed = _doe(sqlite_url, "users", "list", "--format", "json")
    assert [
        (u["name"], u["role"], u["revoked_at"]) for u in json.loads(listed.stdout)
    ] == [("ana", "staff", None)]
    assert "ana" in _doe(sqlite_url, "users", "list").stdout
    assert _doe(sqlite_url, "users", "revoke", "ana").exit_code == 0
    assert AuthStore(sqlite_url).user_for_token(token) is None
    assert _doe(sqlite_url, "users", "revoke", "ana").exit_code == 1
    readded = _doe(sqlite_url, "users", "add", "ana", "--role", "owner")
    assert readded.exit_code == 0 and readded.stdout.strip() != token


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["bad name", "--role", "staff"], "must be 1 to 64", id="name"),
        pytest.param(["ana", "--role", "admin"], "admin", id="role"),
        pytest.param(["ana"], "--role", id="no-role"),
    ],
)
def test_doe_users_add_usage_errors(
    sqlite_url: str, args: list[str], message: str
) -> None:
    r = _doe(sqlite_url, "users", "add", *args)
    assert r.exit_code == 2 and message in r.stderr


def test_doe_serve_binds_localhost_by_default(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw})
    )
    r = CliRunner().invoke(
        cli_app, ["--storage", sqlite_url, "--no-tracking", "serve", "--port", "8123"]
    )
    assert r.exit_code == 0, r.output
    (call,) = calls
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)
    settings = call["app"].state.settings
    assert settings.storage == sqlite_url and settings.tracking is False
    assert settings.secure_cookie is False
    r = CliRunner().invoke(
        cli_app,
        ["--storage", sqlite_url, "serve", "--host", "0.0.0.0", "--secure-cookie"],
    )
    assert r.exit_code == 0
    assert calls[1]["host"] == "0.0.0.0"
    assert calls[1]["app"].state.settings.secure_cookie is True


def test_import_doe_cli_loads_no_fastapi() -> None:
    import subprocess
    import sys

    code = "import sys, doe.cli; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {m.split(".")[0] for m in out} & {"fastapi", "starlette", "uvicorn"}
