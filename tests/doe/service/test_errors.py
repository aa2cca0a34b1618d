"""Errors: bad input is 4xx JSON naming the field; a locked or down ledger is 503."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import doe.ledger
import doe.service.auth
from doe.campaign import Campaign
from doe.exceptions import StorageBusyError
from doe.service import Settings, create_app
from doe.service.auth import AuthStore
from tests.doe.service import Service, TestClient, running_service, sobol_toy


def _with_ranges() -> dict[str, Any]:
    """The toy campaign; yield and cost take only plausible values (cost >= 0.5)."""
    toy = sobol_toy()
    ranges = {"yield_pct": [0.0, 100.0], "cost_eur": [0.5, 50.0]}
    toy["objectives"] = [
        {**o, "valid_range": ranges[o["name"]]} for o in toy["objectives"]
    ]
    return toy


@pytest.fixture(name="svc", scope="module")
def fixture_svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path_factory.mktemp('errors')}/doe.db"
    with running_service(url, campaign=_with_ranges()) as svc:
        yield svc


@pytest.fixture(name="pending")
def fixture_pending(svc: Service) -> int:
    """A fresh experiment claimed by sam."""
    return int(svc.pull("sam")["trial"])


def _post_raw(svc: Service, path: str, text: str, user: str = "sam") -> Any:
    return svc.client.post(
        path,
        content=text,
        headers={**svc.auth(user), "Content-Type": "application/json"},
    )


def _no_traceback(r: Any) -> None:
    assert "Traceback" not in r.text and 'File "' not in r.text


@pytest.mark.parametrize(
    ("body", "error", "field", "fragment"),
    [
        pytest.param(
            '{"outcomes": {"yield_pct": "lots", "cost_eur": 2}}',
            "RequestValidationError",
            "outcomes.yield_pct",
            "valid number",
            id="not-a-number",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": NaN, "cost_eur": 2}}',
            "InvalidMeasurementError",
            "outcomes.yield_pct",
            "finite number",
            id="nan",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 1, "cost_eur": Infinity}}',
            "InvalidMeasurementError",
            "outcomes.cost_eur",
            "[EUR] must be a finite number",
            id="inf",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 150, "cost_eur": 2}}',
            "InvalidMeasurementError",
            "outcomes.yield_pct",
            "[%] = 150 is outside its valid range 0 to 100",
            id="out-of-range",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 1, "cost_eur": 2, "yeild": 3}}',
            "InvalidMeasurementError",
            "outcomes.yeild",
            "Unknown outcome 'yeild'",
            id="unknown-outcome",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 1}}',
            "InvalidMeasurementError",
            "outcomes.cost_eur",
            "Missing objective(s) 'cost_eur'",
            id="missing-objective",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 1, "cost_eur": 2}, "colour": "red"}',
            "RequestValidationError",
            "colour",
            "Extra inputs",
            id="extra-key",
        ),
        pytest.param(
            '{"outcomes": [1, 2]}',
            "RequestValidationError",
            "outcomes",
            "valid dictionary",
            id="list",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 1, "cost_eur": 2}, "note": "a\\u0000b"}',
            "RequestValidationError",
            "note",
            "NUL",
            id="nul",
        ),
        pytest.param(
            '{"outcomes": {"yield_pct": 1, "cost_eur": 2}, "series": {"c": [1, NaN]}}',
            "InvalidMeasurementError",
            None,
            "finite numbers",
            id="series",
        ),
        pytest.param("{not json", "RequestValidationError", "body", "JSON", id="json"),
    ],
)
def test_bad_results_are_422_naming_the_field_and_write_nothing(
    svc: Service,
    pending: int,
    body: str,
    error: str,
    field: str | None,
    fragment: str,
) -> None:
    r = _post_raw(svc, f"/api/campaigns/toy/trials/{pending}/result", body)
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["error"] == error
    if field is not None:
        assert list(got["fields"]) == [field], got  # only the bad field
        assert fragment in got["fields"][field] or fragment in str(got["detail"])
    else:
        assert fragment in got["detail"]
    _no_traceback(r)
    assert svc.campaign().trial(pending).state == "pending"


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "fragment"),
    [
        pytest.param("/failure", '{"kind": "bild_failed"}', 422, "InvalidMeasurementError", "build_failed", id="kind"),
        pytest.param("/failure", '{"note": "x"}', 422, "RequestValidationError", "kind", id="no-kind"),
        pytest.param("/failure", '{"kind": 3}', 422, "RequestValidationError", "kind", id="kind-type"),
    ],
)  # fmt: skip
def test_bad_failures_are_422(
    svc: Service,
    pending: int,
    path: str,
    body: str,
    status: int,
    error: str,
    fragment: str,
) -> None:
    r = _post_raw(svc, f"/api/campaigns/toy/trials/{pending}{path}", body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and fragment in json.dumps(r.json())
    assert svc.campaign().trial(pending).state == "pending"


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        pytest.param('{"n": 0}', "RequestValidationError", "n", id="n-0"),
        pytest.param('{"n": 65}', "RequestValidationError", "n", id="n-65"),
        pytest.param('{"n": 1.5}', "RequestValidationError", "n", id="n-float"),
        pytest.param('{"n": 1, "strategy": "gpp"}', "UnknownStrategyError", "gpp", id="strategy"),
        pytest.param('{"n": 1, "lease_hours": -1}', "RequestValidationError", "lease_hours", id="lease"),
        pytest.param('{"n": 1, "lease_hours": NaN}', "RequestValidationError", "lease_hours", id="lease-nan"),
    ],
)  # fmt: skip
def test_bad_suggestion_requests_are_422(
    svc: Service, body: str, error: str, fragment: str
) -> None:
    before = svc.campaign().counts()
    r = _post_raw(svc, "/api/campaigns/toy/suggestions", body, user="olga")
    assert r.status_code == 422, r.text
    assert r.json()["error"] == error and fragment in json.dumps(r.json())
    assert svc.campaign().counts() == before


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/campaigns/toi", 404, "UnknownCampaignError"),
        ("/api/campaigns/toy/trials/99999", 404, "UnknownTrialError"),
        ("/api/campaigns/toy/trials/-1", 422, "RequestValidationError"),
        (
            "/api/campaigns/toy/trials/99999999999999999999",
            422,
            "RequestValidationError",
        ),
        ("/api/campaigns/toy/trials/abc", 422, "RequestValidationError"),
        ("/api/campaigns/" + "x" * 65, 422, "RequestValidationError"),
        ("/api/campaigns/toy/trials?limit=0", 422, "RequestValidationError"),
        ("/api/nothing", 404, "NotFound"),
    ],
)
def test_unknown_things_are_404_and_bad_paths_422(
    svc: Service, path: str, status: int, error: str
) -> None:
    r = svc.client.get(path, headers=svc.auth("vera"))
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    _no_traceback(r)


def test_unknown_campaign_suggests_the_close_name(svc: Service) -> None:
    r = svc.client.get("/api/campaigns/toi", headers=svc.auth("vera"))
    assert "'toy'" in r.json()["detail"]


def test_wrong_method_is_405_json(svc: Service) -> None:
    r = svc.client.delete("/api/campaigns/toy", headers=svc.auth("olga"))
    assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowed"


def test_an_internal_error_is_500_without_a_traceback(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: Campaign) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(Campaign, "counts", boom)
    client = TestClient(svc.client.app, raise_server_exceptions=False)
    r = client.get("/api/campaigns/toy", headers=svc.auth("vera"))
    assert r.status_code == 500
    assert r.json()["error"] == "InternalServerError"
    assert "secret" not in r.text and "RuntimeError" not in r.text
    _no_traceback(r)


# ------------------------------------------------------------ the storage
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            "postgresql+psycopg2://lab@127.0.0.1:{port}/doe", id="postgres-down"
        ),
        pytest.param("sqlite:///{tmp}/missing/dir/doe.db", id="sqlite-no-dir"),
    ],
)
def test_unreachable_storage_is_503_with_retry_after(url: str, tmp_path: Path) -> None:
    url = url.format(port=_closed_port(), tmp=tmp_path)
    with TestClient(create_app(Settings(storage=url, tracking=False))) as client:
        h = {"Authorization": "Bearer doe_whatever"}
        for method, path in [
            ("GET", "/api/campaigns"),
            ("POST", "/api/campaigns/toy/pull"),
            ("POST", "/api/campaigns/toy/trials/0/result"),
        ]:
            r = client.request(method, path, headers=h, json={"outcomes": {"a": 1}})
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert r.json()["error"] == "StorageBusyError"
            assert "nothing was written" in r.json()["detail"]
            _no_traceback(r)
        page = client.post("/login", data={"token": "doe_x"})
        assert page.status_code == 503 and "text/html" in page.headers["content-type"]
        assert client.get("/healthz").status_code == 200


def test_the_service_recovers_without_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/later/doe.db"
    with TestClient(create_app(Settings(storage=url, tracking=False))) as client:
        assert (
            client.get(
                "/api/campaigns", headers={"Authorization": "Bearer doe_x"}
            ).status_code
            == 503
        )
        (tmp_path / "later").mkdir()  # the disk is back
        Campaign.create(sobol_toy(), url, tracking=False)
        token = AuthStore(url).add_user("sam", "staff")
        r = client.post(
            "/api/campaigns/toy/pull", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text


def test_a_locked_database_is_503_and_then_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doe.ledger, "SQLITE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(doe.service.auth, "_SQLITE_TIMEOUT_S", 0.2)
    url = f"sqlite:///{tmp_path}/doe.db"
    with running_service(url, campaign=sobol_toy()) as svc:
        blocker = sqlite3.connect(tmp_path / "doe.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            r = svc.client.post("/api/campaigns/toy/pull", headers=svc.auth("sam"))
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert "locked" in r.json()["detail"]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert svc.campaign().counts()["pending"] == 0  # nothing half-way
        assert svc.pull("sam")["trial"] == 0


def test_a_busy_ledger_during_a_write_is_503_and_writes_nothing(
    svc: Service, pending: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(self: Campaign, *args: Any, **kwargs: Any) -> None:
        raise StorageBusyError("The ledger is locked; nothing was written.")

    outcomes = {"yield_pct": 50.0, "cost_eur": 2.0}
    url = f"/api/campaigns/toy/trials/{pending}/result"
    with monkeypatch.context() as m:
        m.setattr(Campaign, "record", busy)
        r = svc.client.post(url, headers=svc.auth("sam"), json={"outcomes": outcomes})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert svc.campaign().trial(pending).state == "pending"
    audit = svc.client.get("/api/audit?limit=1", headers=svc.auth("olga")).json()
    assert audit[0]["action"] != "record"
    retry = svc.client.post(url, headers=svc.auth("sam"), json={"outcomes": outcomes})
    assert retry.status_code == 201


def test_a_database_with_users_but_no_campaign_yet(sqlite_url: str) -> None:
    with running_service(sqlite_url, campaign=None) as svc:  # `doe users add` first
        h = svc.auth("vera")
        assert svc.client.get("/api/campaigns", headers=h).json() == []
        r = svc.client.get("/api/campaigns/toy", headers=h)
        assert r.status_code == 404 and "doe init" in r.json()["detail"]
        Campaign.create(sobol_toy(), sqlite_url, tracking=False)  # then `doe init`
        assert [
            c["name"] for c in svc.client.get("/api/campaigns", headers=h).json()
        ] == ["toy"]
