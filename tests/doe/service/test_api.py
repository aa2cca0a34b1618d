"""Every endpoint of the JSON API, on a temporary SQLite ledger."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import toy_outcomes
from tests.doe.service import Service, running_service, sobol_toy


@pytest.fixture(name="svc")
def fixture_svc(sqlite_url: str) -> Iterator[Service]:
    with running_service(sqlite_url, campaign=sobol_toy()) as svc:
        yield svc


def test_health_and_openapi_need_no_sign_in(svc: Service) -> None:
    assert svc.client.get("/healthz").json()["status"] == "ok"
    schema = svc.client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    paths = set(schema["paths"])
    assert {
        "/api/campaigns",
        "/api/campaigns/{name}",
        "/api/campaigns/{name}/suggestions",
        "/api/campaigns/{name}/pull",
        "/api/campaigns/{name}/trials",
        "/api/campaigns/{name}/trials/{trial}",
        "/api/campaigns/{name}/trials/{trial}/release",
        "/api/campaigns/{name}/trials/{trial}/result",
        "/api/campaigns/{name}/trials/{trial}/correction",
        "/api/campaigns/{name}/trials/{trial}/failure",
        "/api/campaigns/{name}/pareto",
        "/api/campaigns/{name}/pareto.png",
        "/api/campaigns/{name}/predictions",
        "/api/campaigns/{name}/export.csv",
    } <= paths
    assert not any(p.startswith(("/login", "/campaigns")) for p in paths)


def test_me_lists_campaigns_and_one_campaign(svc: Service) -> None:
    assert svc.client.get("/api/me", headers=svc.auth("vera")).json() == {
        "name": "vera",
        "role": "viewer",
    }
    listed = svc.client.get("/api/campaigns", headers=svc.auth("vera")).json()
    assert [c["name"] for c in listed] == ["toy"]
    assert listed[0]["counts"] == {
        "pending": 0,
        "complete": 0,
        "failed": 0,
        "abandoned": 0,
    }
    one = svc.client.get("/api/campaigns/toy", headers=svc.auth("vera")).json()
    assert one["definition"]["name"] == "toy"
    assert one["outcome_units"] == {
        "yield_pct": "%",
        "cost_eur": "EUR",
        "purity_pct": "%",
    }
    assert one["parameter_units"] == {"temp_c": "C", "conc_mol_l": "mol/L"}
    assert one["objectives"] == ["yield_pct", "cost_eur"]
    assert "build_failed" in one["failure_kinds"]
    assert one["hypervolume"] == 0.0


def test_owner_creates_a_campaign_and_a_duplicate_is_409(svc: Service) -> None:
    body = {"definition": sobol_toy(name="toy-two")}
    r = svc.client.post("/api/campaigns", headers=svc.auth("olga"), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "toy-two"
    again = svc.client.post("/api/campaigns", headers=svc.auth("olga"), json=body)
    assert again.status_code == 409
    assert again.json()["error"] == "CampaignExistsError"
    bad = svc.client.post(
        "/api/campaigns",
        headers=svc.auth("olga"),
        json={"definition": sobol_toy(name="Bad Name")},
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == "DefinitionError"
    assert "'Bad Name'" in bad.json()["detail"]
    names = [
        c["name"]
        for c in svc.client.get("/api/campaigns", headers=svc.auth("vera")).json()
    ]
    assert names == ["toy", "toy-two"]


def test_owner_updates_a_running_campaigns_definition(svc: Service) -> None:
    t = svc.pull("sam")
    wide = copy.deepcopy(sobol_toy())
    wide["parameters"][0]["high"] = 120.0
    url = "/api/campaigns/toy/definition"
    for user, code in (("vera", 403), ("sam", 403)):
        r = svc.client.put(url, headers=svc.auth(user), json={"definition": wide})
        assert r.status_code == code, (user, r.text)
    dry = svc.client.put(
        url, headers=svc.auth("olga"), json={"definition": wide, "dry_run": True}
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["written"] is False
    assert dry.json()["changes"] == [
        {"field": "parameters.temp_c.high", "old": 80.0, "new": 120.0}
    ]
    assert svc.campaign().definition.space["temp_c"].high == 80.0
    body = {"definition": wide, "note": "hotter"}
    r = svc.client.put(url, headers=svc.auth("olga"), json=body)
    assert r.status_code == 200 and r.json()["written"] is True
    assert r.json()["campaign"]["definition"]["parameters"][0]["high"] == 120.0
    assert r.json()["to_hash"] == svc.campaign().definition.hash
    audit = svc.client.get("/api/audit?campaign=toy", headers=svc.auth("olga")).json()
    assert (audit[0]["user"], audit[0]["action"]) == ("olga", "update_definition")

    tight = copy.deepcopy(sobol_toy())
    tight["parameters"][0]["high"] = t["params"]["temp_c"] - 0.5
    bad = [
        (tight, 409, f"leaves trial {t['trial']} (pending"),
        (sobol_toy(name="other"), 409, "cannot be renamed to 'other'"),
        ({**sobol_toy(), "strategy": "best"}, 422, "Strategy 'best' of campaign"),
    ]
    for definition, code, message in bad:
        r = svc.client.put(
            url, headers=svc.auth("olga"), json={"definition": definition}
        )
        assert r.status_code == code and message in r.json()["detail"], r.text
    assert svc.campaign().definition.space["temp_c"].high == 120.0
    assert len(svc.campaign().definition_history()) == 1


def test_owner_asks_for_a_batch_conditioned_on_pending(svc: Service) -> None:
    r = svc.client.post(
        "/api/campaigns/toy/suggestions", headers=svc.auth("olga"), json={"n": 3}
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert [t["trial"] for t in batch] == [0, 1, 2]
    assert all(t["state"] == "pending" and t["claimed_by"] is None for t in batch)
    assert all(t["asked_by"] == "olga" and t["strategy"] == "sobol" for t in batch)
    assert len({tuple(t["params"].values()) for t in batch}) == 3
    claimed = svc.client.post(
        "/api/campaigns/toy/suggestions",
        headers=svc.auth("olga"),
        json={"n": 1, "claim": True, "lease_hours": 2},
    ).json()
    assert claimed[0]["trial"] == 3 and claimed[0]["claimed_by"] == "olga"
    assert svc.campaign().counts()["pending"] == 4


def test_pull_gives_unclaimed_pending_first_then_new(svc: Service) -> None:
    svc.client.post(
        "/api/campaigns/toy/suggestions", headers=svc.auth("olga"), json={"n": 1}
    )
    first = svc.pull("sam")
    assert first["trial"] == 0 and first["claimed_by"] == "sam"
    assert first["claim_until"] is not None
    second = svc.pull("tim")
    assert second["trial"] == 1 and second["claimed_by"] == "tim"
    rec = svc.campaign().trial(1)
    assert rec.claimed_by == "tim" and rec.attrs["asked_by"] == "tim"


def test_pull_takes_a_lease_length(svc: Service) -> None:
    r = svc.client.post(
        "/api/campaigns/toy/pull", headers=svc.auth("sam"), json={"lease_hours": 1.5}
    )
    assert r.status_code == 200
    rec = svc.campaign().trial(r.json()["trial"])
    assert rec.attrs["claim_until"] > rec.attrs["claimed_at"]


def test_suggest_and_pull_with_knobs_held_fixed(svc: Service) -> None:
    r = svc.client.post(
        "/api/campaigns/toy/suggestions",
        headers=svc.auth("olga"),
        json={"n": 2, "fixed": {"conc_mol_l": 0.2}},
    )
    assert r.status_code == 201, r.text
    assert [t["fixed"] for t in r.json()] == [{"conc_mol_l": 0.2}] * 2
    assert all(t["params"]["conc_mol_l"] == 0.2 for t in r.json())
    url = "/api/campaigns/toy/pull"
    got = svc.client.post(
        url, headers=svc.auth("sam"), json={"fixed": {"conc_mol_l": 0.2}}
    ).json()
    assert got["trial"] == 0 and got["fixed"] == {"conc_mol_l": 0.2}
    new = svc.client.post(
        url, headers=svc.auth("sam"), json={"fixed": {"temp_c": 35}}
    ).json()
    assert new["trial"] == 2 and new["params"]["temp_c"] == 35.0
    assert svc.pull("tim")["fixed"] == {"conc_mol_l": 0.2}  # trial 1, unclaimed
    audit = svc.client.get("/api/audit?campaign=toy", headers=svc.auth("olga")).json()
    assert audit[0]["action"] == "pull" and audit[0]["detail"].get("fixed") is None
    assert audit[1]["detail"]["fixed"] == {"temp_c": 35.0}


def test_a_batch_sharing_a_knob_and_a_bad_shared_knob(svc: Service) -> None:
    url = "/api/campaigns/toy/suggestions"
    r = svc.client.post(
        url, headers=svc.auth("olga"), json={"n": 3, "shared": ["temp_c"]}
    )
    assert r.status_code == 201, r.text
    batch = r.json()
    assert len({t["params"]["temp_c"] for t in batch}) == 1
    assert [t["shared"] for t in batch] == [["temp_c"]] * 3
    bad = svc.client.post(
        url, headers=svc.auth("olga"), json={"n": 2, "shared": ["temp_c", "conc_mol_l"]}
    )
    assert bad.status_code == 422
    assert "repeat one experiment" in bad.json()["fields"]["shared"]
    assert len(svc.campaign().trials()) == 3


@pytest.mark.parametrize(
    ("fixed", "fields"),
    [
        (
            {"temp_c": 500, "conc_mol_l": 0.2, "tmp_c": 1},
            {
                "fixed.temp_c": "must lie in [20, 80] C",
                "fixed.tmp_c": "Did you mean 'temp_c'",
            },
        ),
        (
            {"temp_c": 40, "conc_mol_l": 0.2},
            {"fixed": "Every parameter is fixed"},
        ),
    ],
)
def test_bad_fixed_knobs_are_named_field_by_field(
    svc: Service, fixed: dict[str, Any], fields: dict[str, str]
) -> None:
    for path, user, body in (
        ("suggestions", "olga", {"n": 1, "fixed": fixed}),
        ("pull", "sam", {"fixed": fixed}),
    ):
        r = svc.client.post(
            f"/api/campaigns/toy/{path}", headers=svc.auth(user), json=body
        )
        assert r.status_code == 422, r.text
        got = r.json()["fields"]
        assert set(got) == set(fields), got
        for name, text in fields.items():
            assert text in got[name]
    assert svc.campaign().trials() == []


def test_release_gives_the_experiment_back(svc: Service) -> None:
    n = svc.pull("sam")["trial"]
    other = svc.client.post(
        f"/api/campaigns/toy/trials/{n}/release", headers=svc.auth("tim")
    )
    assert other.status_code == 409
    assert "claimed by 'sam'" in other.json()["detail"]
    r = svc.client.post(
        f"/api/campaigns/toy/trials/{n}/release", headers=svc.auth("sam")
    )
    assert r.status_code == 200 and r.json()["claimed_by"] is None
    assert svc.pull("tim")["trial"] == n  # back in the pool
    owner = svc.client.post(
        f"/api/campaigns/toy/trials/{n}/release", headers=svc.auth("olga")
    )
    assert owner.status_code == 200  # an owner may release anyone's claim


def test_result_is_recorded_with_the_operator_and_idempotent(svc: Service) -> None:
    t = svc.pull("sam")
    outcomes = toy_outcomes(t["params"])
    url = f"/api/campaigns/toy/trials/{t['trial']}/result"
    r = svc.client.post(
        url, headers=svc.auth("sam"), json={"outcomes": outcomes, "note": "cell A"}
    )
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["state"] == "complete" and stored["recorded_by"] == "sam"
    assert stored["outcomes"] == pytest.approx(outcomes)
    again = svc.client.post(url, headers=svc.auth("sam"), json={"outcomes": outcomes})
    assert again.status_code == 200
    assert again.json() == stored  # the stored record, not a new write
    differs = svc.client.post(
        url, headers=svc.auth("sam"), json={"outcomes": {**outcomes, "yield_pct": 1.0}}
    )
    assert differs.status_code == 409
    assert differs.json()["error"] == "TrialStateError"
    rec = svc.campaign().trial(t["trial"])
    assert rec.outcomes == pytest.approx(outcomes) and rec.attrs["note"] == "cell A"
    audit = svc.client.get("/api/audit?campaign=toy", headers=svc.auth("olga")).json()
    assert [(a["user"], a["action"]) for a in audit] == [
        ("sam", "record"),
        ("sam", "pull"),
    ]


def test_a_recorded_result_is_corrected_by_its_recorder_or_an_owner(
    svc: Service,
) -> None:
    t = svc.pull("sam")
    outcomes = toy_outcomes(t["params"])
    base = f"/api/campaigns/toy/trials/{t['trial']}"
    pending = svc.client.post(
        f"{base}/correction",
        headers=svc.auth("sam"),
        json={"outcomes": {"yield_pct": 1.0}, "note": "x"},
    )
    assert pending.status_code == 409 and "only a recorded result" in pending.text
    svc.client.post(
        f"{base}/result", headers=svc.auth("sam"), json={"outcomes": outcomes}
    )
    differs = svc.client.post(
        f"{base}/result", headers=svc.auth("sam"),
        json={"outcomes": {**outcomes, "yield_pct": 1.0}},
    )  # fmt: skip
    assert "correct it (POST .../correction" in differs.json()["detail"]
    fix = {"outcomes": {"yield_pct": 42.0}, "note": "typo"}
    r = svc.client.post(f"{base}/correction", headers=svc.auth("sam"), json=fix)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcomes"] == pytest.approx({**outcomes, "yield_pct": 42.0})
    (c,) = body["corrections"]
    assert (c["by"], c["note"]) == ("sam", "typo")
    assert c["previous"] == pytest.approx(outcomes)
    again = svc.client.post(f"{base}/correction", headers=svc.auth("sam"), json=fix)
    assert again.status_code == 200 and len(again.json()["corrections"]) == 1
    assert svc.client.get(base, headers=svc.auth("vera")).json() == body
    other = {"outcomes": {"yield_pct": 43.0}, "note": "mine?"}
    for user, code in (("vera", 403), ("tim", 409)):
        r = svc.client.post(f"{base}/correction", headers=svc.auth(user), json=other)
        assert r.status_code == code, (user, r.text)
    assert "recorded by 'sam', not 'tim'" in r.json()["detail"]
    bad = [
        ({"outcomes": {"yeld_pct": 1.0}, "note": "x"}, "Unknown outcome 'yeld_pct'"),
        ({"outcomes": {"yield_pct": 1.0}}, "note"),
        ({"outcomes": {"yield_pct": 1.0}, "note": ""}, "note"),
        ({"outcomes": {}, "note": "x"}, "outcomes"),
    ]
    for payload, message in bad:
        r = svc.client.post(f"{base}/correction", headers=svc.auth("sam"), json=payload)
        assert r.status_code == 422 and message in r.text, r.text
    r = svc.client.post(
        f"{base}/correction",
        headers=svc.auth("sam"),
        json={"outcomes": {"yeld_pct": 1.0, "cost_eur": "1e999"}, "note": "x"},
    )  # every bad field named, as for a result
    assert r.status_code == 422, r.text
    assert set(r.json()["fields"]) == {"outcomes.yeld_pct", "outcomes.cost_eur"}
    owner = svc.client.post(f"{base}/correction", headers=svc.auth("olga"), json=other)
    assert owner.status_code == 201
    assert [c["by"] for c in owner.json()["corrections"]] == ["sam", "olga"]
    assert svc.campaign().trial(t["trial"]).outcomes["yield_pct"] == 43.0
    audit = svc.client.get("/api/audit?campaign=toy", headers=svc.auth("olga")).json()
    assert [(a["user"], a["action"]) for a in audit][:2] == [
        ("olga", "correct"),
        ("sam", "correct"),
    ]


def test_result_with_series_and_for_someone_elses_claim(svc: Service) -> None:
    t = svc.pull("sam")
    body = {
        "outcomes": toy_outcomes(t["params"]),
        "series": {"capacity_mah_g": [900, 890.5]},
    }
    url = f"/api/campaigns/toy/trials/{t['trial']}/result"
    r = svc.client.post(url, headers=svc.auth("tim"), json=body)
    assert r.status_code == 409
    assert "claimed by 'sam'" in r.json()["detail"]
    assert svc.client.post(url, headers=svc.auth("sam"), json=body).status_code == 201
    assert svc.campaign().trial(t["trial"]).attrs["series"] == {
        "capacity_mah_g": [900.0, 890.5]
    }


def test_failure_is_recorded_and_idempotent(svc: Service) -> None:
    n = svc.pull("sam")["trial"]
    url = f"/api/campaigns/toy/trials/{n}/failure"
    body = {"kind": "short_circuit", "note": "shorted at formation"}
    r = svc.client.post(url, headers=svc.auth("sam"), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "failed" and r.json()["failure_kind"] == "short_circuit"
    assert svc.client.post(url, headers=svc.auth("sam"), json=body).status_code == 200
    other = svc.client.post(url, headers=svc.auth("sam"), json={"kind": "lost"})
    assert other.status_code == 409
    result = svc.client.post(
        f"/api/campaigns/toy/trials/{n}/result",
        headers=svc.auth("sam"),
        json={"outcomes": {"yield_pct": 1, "cost_eur": 2}},
    )
    assert result.status_code == 409
    rec = svc.campaign().trial(n)
    assert rec.state == "failed" and rec.attrs["recorded_by"] == "sam"


def test_trials_list_filters_and_one_trial(svc: Service) -> None:
    svc.client.post(
        "/api/campaigns/toy/suggestions", headers=svc.auth("olga"), json={"n": 3}
    )
    a = svc.pull("sam")["trial"]
    b = svc.pull("tim")["trial"]
    svc.client.post(
        f"/api/campaigns/toy/trials/{b}/failure",
        headers=svc.auth("tim"),
        json={"kind": "lost"},
    )
    get = svc.client.get
    h = svc.auth("vera")
    assert [t["trial"] for t in get("/api/campaigns/toy/trials", headers=h).json()] == [
        0,
        1,
        2,
    ]
    pending = get("/api/campaigns/toy/trials?state=pending", headers=h).json()
    assert [t["trial"] for t in pending] == [a, 2]
    mine = get("/api/campaigns/toy/trials?claimed_by=sam", headers=h).json()
    assert [t["trial"] for t in mine] == [a]
    assert [
        t["trial"] for t in get("/api/campaigns/toy/trials?limit=1", headers=h).json()
    ] == [2]
    one = get(f"/api/campaigns/toy/trials/{b}", headers=h).json()
    assert one["failure_kind"] == "lost" and one["recorded_by"] == "tim"
    bad = get("/api/campaigns/toy/trials?state=done", headers=h)
    assert bad.status_code == 422 and "state" in bad.json()["fields"]


def test_pareto_rows_png_and_csv_export(svc: Service) -> None:
    h = svc.auth("vera")
    empty = svc.client.get("/api/campaigns/toy/pareto.png", headers=h)
    assert empty.status_code == 200 and empty.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert svc.client.get("/api/campaigns/toy/pareto", headers=h).json() == []
    svc.measure(5)
    rows = svc.client.get("/api/campaigns/toy/pareto", headers=h).json()
    expected = svc.campaign().pareto()
    assert [r["trial"] for r in rows] == expected["trial"].tolist()
    assert all(r["state"] == "complete" and r["purity_pct"] >= 90 for r in rows)
    by_model = svc.client.get("/api/campaigns/toy/pareto?model=true", headers=h).json()
    expected = svc.campaign().pareto(model=True)
    assert [r["trial"] for r in by_model] == expected["trial"].tolist()
    assert by_model[0]["est_yield_pct"] == pytest.approx(expected["est_yield_pct"][0])
    assert by_model[0]["est_yield_pct_std"] > 0
    png = svc.client.get("/api/campaigns/toy/pareto.png", headers=h)
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 5000
    exported = svc.client.get("/api/campaigns/toy/export.csv", headers=h)
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="toy.csv"' in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(table) == 5 and table[0]["recorded_by"] == "sam"
    assert svc.client.get("/api/campaigns/toy", headers=h).json()["hypervolume"] > 0


def test_progress_png_is_the_hypervolume_after_each_round(svc: Service) -> None:
    import matplotlib.image

    def plot() -> Any:
        r = svc.client.get("/api/campaigns/toy/progress.png", headers=svc.auth("vera"))
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["cache-control"] == "no-store"
        return matplotlib.image.imread(io.BytesIO(r.content), format="png")

    assert plot().shape[:2] == (120, 640)  # nothing measured: a small note
    svc.measure(3)
    one = plot()
    assert one.shape[:2] == (480, 640)
    svc.measure(3)
    rounds = svc.campaign().hypervolume_by_round()
    assert [r["n_complete"] for r in rounds] == list(range(1, 7))
    assert rounds[-1]["hypervolume"] == pytest.approx(svc.campaign().hypervolume())
    assert not (plot() == one).all()  # the new rounds are drawn


def test_the_report_is_one_html_file_for_viewers(svc: Service) -> None:
    svc.measure(5)
    r = svc.client.get(
        "/api/campaigns/toy/report.html?model=false", headers=svc.auth("vera")
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'filename="toy-report.html"' in r.headers["content-disposition"]
    assert "<h1>toy</h1>" in r.text and 'data-testid="pareto"' in r.text
    assert 'data-testid="quality"' not in r.text  # model=false
    assert svc.client.get("/api/campaigns/toy/report.html").status_code == 401


def test_predictions_are_the_models_what_if_and_write_nothing(svc: Service) -> None:
    h = svc.auth("vera")  # a viewer may ask: nothing is written
    url = "/api/campaigns/toy/predictions"
    asked = [{"temp_c": 50.0, "conc_mol_l": 0.3}, {"temp_c": 25.0, "conc_mol_l": 0.9}]
    early = svc.client.post(url, headers=h, json={"settings": asked})
    assert early.status_code == 409, early.text
    assert early.json()["error"] == "NotEnoughDataError"
    svc.measure(6)
    before = svc.campaign().table()
    r = svc.client.post(url, headers=h, json={"settings": asked})
    assert r.status_code == 200, r.text
    rows = r.json()
    expected = svc.campaign().predict(asked)
    assert [row["temp_c"] for row in rows] == [50.0, 25.0]
    for row, (_, exp) in zip(rows, expected.iterrows(), strict=True):
        assert row["est_yield_pct"] == pytest.approx(exp["est_yield_pct"])
        assert row["est_yield_pct_std"] > 0
        assert 0.0 <= row["p_limits"] <= 1.0
        assert row["nearest_trial"] == exp["nearest_trial"]
        assert row["dominated_by"] == exp["dominated_by"]
    for body, field in (
        ({"settings": []}, "settings"),
        ({"settings": [{"temp_c": "hot", "conc_mol_l": 0.3}]}, "temp_c"),
    ):
        bad = svc.client.post(url, headers=h, json=body)
        assert bad.status_code == 422 and field in bad.text, bad.text
    out = svc.client.post(
        url, headers=h, json={"settings": [{"temp_c": 95.0, "conc_mol_l": 0.3}]}
    )
    assert out.status_code == 422
    assert "'temp_c' must lie in [20, 80] C; got 95" in out.json()["detail"]
    assert svc.client.post(url, json={"settings": asked}).status_code == 401
    assert svc.campaign().table().equals(before)


def test_users_list_and_audit_are_for_owners(svc: Service) -> None:
    users = svc.client.get("/api/users", headers=svc.auth("olga")).json()
    assert {u["name"]: u["role"] for u in users} == {
        "olga": "owner",
        "sam": "staff",
        "tim": "staff",
        "vera": "viewer",
    }
    assert svc.client.get("/api/users", headers=svc.auth("sam")).status_code == 403
    assert svc.client.get("/api/audit", headers=svc.auth("sam")).status_code == 403


def test_an_expired_claim_returns_the_experiment_to_the_pool(svc: Service) -> None:
    import time

    r = svc.client.post(
        "/api/campaigns/toy/pull", headers=svc.auth("sam"), json={"lease_hours": 1e-4}
    )
    n = r.json()["trial"]
    time.sleep(0.5)  # the 0.36 s lease runs out
    assert (
        svc.client.get(
            f"/api/campaigns/toy/trials/{n}", headers=svc.auth("vera")
        ).json()["claimed_by"]
        is None
    )
    assert svc.pull("tim")["trial"] == n
    late = svc.client.post(
        f"/api/campaigns/toy/trials/{n}/result",
        headers=svc.auth("sam"),
        json={"outcomes": {"yield_pct": 1.0, "cost_eur": 2.0}},
    )
    assert late.status_code == 409 and "claimed by 'tim'" in late.json()["detail"]
