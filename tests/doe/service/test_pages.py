"""The web page: cookie sign-in, claim, result form with field errors, fail, release."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import toy_outcomes
from tests.doe.service import Service, running_service, sobol_toy


@pytest.fixture(name="svc")
def fixture_svc(sqlite_url: str) -> Iterator[Service]:
    toy = sobol_toy()
    first, *rest = toy["objectives"]
    toy["objectives"] = [{**first, "valid_range": [0.0, 100.0]}, *rest]
    with running_service(sqlite_url, campaign=toy) as svc:
        yield svc


def _login(svc: Service, user: str) -> str:
    """Sign in through the form; returns the CSRF token of the page."""
    r = svc.client.post("/login", data={"token": svc.tokens[user]})
    assert r.status_code == 200 and r.url.path == "/", r.text
    return _csrf(r.text)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, html
    return found.group(1)


def _post(svc: Service, path: str, data: dict[str, Any]) -> Any:
    return svc.client.post(path, data=data, follow_redirects=False)


def test_pages_redirect_to_login_until_signed_in(svc: Service) -> None:
    for path in ("/", "/campaigns/toy"):
        r = svc.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    page = svc.client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert 'name="viewport"' in page.text


def test_login_sets_a_safe_session_cookie(svc: Service) -> None:
    bad = svc.client.post("/login", data={"token": "doe_wrong"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    r = _post(svc, "/login", {"token": svc.tokens["sam"]})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("doe_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert svc.tokens["sam"] not in cookie
    index = svc.client.get("/")
    assert "toy" in index.text and "sam · staff" in index.text


def test_the_cookie_is_secure_when_the_settings_say_so(sqlite_url: str) -> None:
    with running_service(sqlite_url, secure_cookie=True, cookie_name="lab") as svc:
        r = _post(svc, "/login", {"token": svc.tokens["sam"]})
        assert r.headers["set-cookie"].startswith("lab=")
        assert "Secure" in r.headers["set-cookie"]


def test_staff_claims_records_and_sees_it(svc: Service) -> None:
    csrf = _login(svc, "sam")
    page = svc.client.get("/campaigns/toy")
    assert "Claim next experiment" in page.text and "Nothing measured yet" in page.text
    r = _post(svc, "/campaigns/toy/pull", {"csrf": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/campaigns/toy?done=claimed&trial=0#trial-0"
    page = svc.client.get(r.headers["location"])
    assert "You claimed trial 0" in page.text
    # the result form: unit labels, number inputs, objectives required
    assert 'for="out-0-yield_pct">yield_pct <span class="unit">[%]</span>' in page.text
    assert 'for="out-0-cost_eur">cost_eur <span class="unit">[EUR]</span>' in page.text
    assert re.search(
        r'name="out:cost_eur" type="number" step="any"[^>]*required', page.text
    )
    assert not re.search(r'name="out:purity_pct"[^>]*required', page.text)
    # the browser refuses a yield outside its valid range before it is sent
    assert re.search(r'name="out:yield_pct"[^>]*min="0.0" max="100.0"', page.text)
    assert not re.search(r'name="out:cost_eur"[^>]*min=', page.text)
    assert '<a href="/api/campaigns/toy/report.html" data-testid="report">' in page.text
    for plot in ("pareto", "progress"):
        assert f'<img class="plot" src="/api/campaigns/toy/{plot}.png"' in page.text
        r = svc.client.get(f"/api/campaigns/toy/{plot}.png")  # with the cookie
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"

    params = svc.campaign().trial(0).params
    values = toy_outcomes(params)
    form = {
        "csrf": csrf,
        "note": "cell 7",
        **{f"out:{k}": str(v) for k, v in values.items()},
    }
    r = _post(svc, "/campaigns/toy/trials/0/result", form)
    assert r.status_code == 303
    page = svc.client.get(r.headers["location"])
    assert "Trial 0 is recorded" in page.text
    assert 'id="history-0"' in page.text and "complete" in page.text
    rec = svc.campaign().trial(0)
    assert rec.state == "complete" and rec.attrs["recorded_by"] == "sam"
    assert rec.outcomes == pytest.approx(values) and rec.attrs["note"] == "cell 7"
    again = _post(svc, "/campaigns/toy/trials/0/result", form)
    assert "done=replayed" in again.headers["location"]
    svc.campaign().correct(0, {"yield_pct": 1.0}, note="typo", operator="olga")
    page = svc.client.get("/campaigns/toy")
    corrected = re.search(r'data-testid="corrected">([^<]*)<', page.text)
    assert corrected and corrected.group(1) == "corrected by olga: typo"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        pytest.param({"yield_pct": "50"}, "cost_eur", "Missing objective(s) 'cost_eur'", id="missing"),
        pytest.param({"yield_pct": "1e999", "cost_eur": "2"}, "yield_pct", "must be a finite number", id="inf"),
        pytest.param({"yield_pct": "abc", "cost_eur": "2"}, "yield_pct", "must be a number; got 'abc'", id="text"),
        pytest.param({"yield_pct": "150", "cost_eur": "2"}, "yield_pct", "= 150 is outside its valid range 0 to 100", id="range"),
    ],
)  # fmt: skip
def test_server_side_errors_are_shown_next_to_the_field(
    svc: Service, values: dict[str, str], field: str, message: str
) -> None:
    csrf = _login(svc, "sam")
    _post(svc, "/campaigns/toy/pull", {"csrf": csrf})
    form = {"csrf": csrf, **{f"out:{k}": v for k, v in values.items()}}
    r = _post(svc, "/campaigns/toy/trials/0/result", form)
    assert r.status_code == 422
    error = re.search(
        rf'<input id="out-0-{field}"[^>]*aria-invalid="true"[^>]*>\s*'
        rf'<p class="field-error" id="out-0-{field}-error" data-field="{field}">([^<]*)</p>',
        r.text,
    )
    assert error, r.text
    assert message in html.unescape(error.group(1))
    assert "fix the marked fields" in r.text
    for k, v in values.items():  # what was typed is kept
        assert re.search(rf'name="out:{k}"[^>]*\n?[^>]*value="{re.escape(v)}"', r.text)
    assert svc.campaign().trial(0).state == "pending"


def test_staff_claims_with_knobs_held_fixed(svc: Service) -> None:
    csrf = _login(svc, "sam")
    page = svc.client.get("/campaigns/toy").text
    assert "Claim with some knobs fixed" in page
    assert re.search(r'<input id="hold-temp_c" name="fix:temp_c"[^>]*min="20.0"', page)
    form = {"csrf": csrf, "fix:temp_c": "45", "fix:conc_mol_l": " "}  # blank: free
    r = _post(svc, "/campaigns/toy/pull", form)
    assert r.status_code == 303, r.text
    assert svc.campaign().trial(0).params["temp_c"] == 45.0
    page = svc.client.get(r.headers["location"]).text
    shown = re.search(r'<p class="muted" data-testid="fixed">([^<]*)</p>', page)
    assert shown and html.unescape(shown.group(1)) == "Held fixed: temp_c = 45 C"
    # the pending table marks the held knob, and only that one
    assert '<span class="muted" data-held="temp_c">(held)</span>' in page
    assert 'data-held="conc_mol_l"' not in page


def test_a_bad_fixed_knob_is_shown_next_to_its_field(svc: Service) -> None:
    csrf = _login(svc, "sam")
    form = {"csrf": csrf, "fix:temp_c": "95", "fix:conc_mol_l": "0.2"}
    r = _post(svc, "/campaigns/toy/pull", form)
    assert r.status_code == 422
    error = re.search(
        r'<input id="hold-temp_c"[^>]*aria-invalid="true"[^>]*>\s*'
        r'<p class="field-error" id="hold-temp_c-error" data-field="temp_c">([^<]*)</p>',
        r.text,
    )
    assert error, r.text
    assert "must lie in [20, 80] C; got 95" in html.unescape(error.group(1))
    assert 'id="hold-conc_mol_l-error"' not in r.text
    assert "No experiment was claimed: fix the marked knobs." in r.text
    assert re.search(r'name="fix:temp_c"[^>]*\n?[^>]*value="95"', r.text)  # kept
    assert '<details class="more" id="claim-fixed" open>' in r.text
    whole = _post(
        svc,
        "/campaigns/toy/pull",
        {"csrf": csrf, "fix:temp_c": "40", "fix:conc_mol_l": "0.2"},
    )
    assert whole.status_code == 422
    assert "Every parameter is fixed" in html.unescape(whole.text)
    assert svc.campaign().trials() == []


def test_what_if_form_shows_the_models_view_to_a_viewer(svc: Service) -> None:
    _login(svc, "vera")  # a viewer: the form writes nothing
    page = svc.client.get("/campaigns/toy")
    assert 'data-testid="what-if-form"' in page.text
    assert re.search(r'name="k:temp_c" type="number" step="any"[^>]*min="20.0" '
                     r'max="80.0"[^>]*required', page.text)  # fmt: skip
    early = svc.client.get("/campaigns/toy/what-if?k:temp_c=50&k:conc_mol_l=0.3")
    assert early.status_code == 409
    assert "the model needs at least 4" in html.unescape(early.text)
    svc.measure(6)
    before = svc.campaign().table()
    r = svc.client.get("/campaigns/toy/what-if?k:temp_c=50&k:conc_mol_l=0.3")
    assert r.status_code == 200
    result = re.search(r'data-testid="what-if-result">(.*?)</dl>', r.text, re.S)
    assert result, r.text
    text = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(result.group(1))).split())
    exp = svc.campaign().predict([{"temp_c": 50.0, "conc_mol_l": 0.3}]).iloc[0]
    from doe.space import format_number

    assert f"yield_pct {format_number(exp['est_yield_pct'])} ± " in text
    assert f"chance the limits are met {100 * exp['p_limits']:.0f} %" in text
    assert f"closest measured cell trial {exp['nearest_trial']} (distance" in text
    assert re.search(r'name="k:temp_c"[^>]*value="50"', r.text)  # kept as typed
    bad = svc.client.get("/campaigns/toy/what-if?k:temp_c=95&k:conc_mol_l=0.3")
    assert bad.status_code == 422
    assert "'temp_c' must lie in [20, 80] C; got 95" in html.unescape(bad.text)
    assert 'data-testid="what-if-error"' in bad.text
    assert svc.campaign().table().equals(before)


def _correction_forms(page: str) -> list[int]:
    """Trials whose correction form the page shows."""
    return [
        int(n) for n in re.findall(r'<details class="fix" id="correct-(\d+)"', page)
    ]


def test_a_typo_is_corrected_from_the_history(svc: Service) -> None:
    t = svc.pull("sam")
    outcomes = toy_outcomes(t["params"])
    svc.client.post(
        "/api/campaigns/toy/trials/0/result",
        headers=svc.auth("sam"),
        json={"outcomes": outcomes},
    )
    for user, forms in (("vera", []), ("tim", []), ("olga", [0]), ("sam", [0])):
        csrf = _login(svc, user)
        assert _correction_forms(svc.client.get("/campaigns/toy").text) == forms, user
    # sam (the recorder) is signed in; the recorded value is the placeholder
    page = svc.client.get("/campaigns/toy").text
    assert re.search(r'id="fix-0-yield_pct" name="out:yield_pct" type="number"'
                     r'[^>]*placeholder="[0-9.]+" value=""', page)  # fmt: skip
    bad = _post(
        svc,
        "/campaigns/toy/trials/0/correction",
        {"csrf": csrf, "out:yield_pct": "150", "note": " "},
    )
    assert bad.status_code == 422 and "Trial 0 was not corrected" in bad.text
    assert '<details class="fix" id="correct-0" open>' in bad.text
    for field, message in (
        ("yield_pct", "= 150 is outside its valid range 0 to 100"),
        ("note", "Say why it is corrected"),
    ):
        error = re.search(
            rf'id="fix-0-{field}"[^>]*aria-invalid="true"[^>]*>\s*'
            rf'<p class="field-error" id="fix-0-{field}-error" data-field="{field}">'
            r"([^<]*)</p>",
            bad.text,
        )
        assert error and message in html.unescape(error.group(1)), field
    assert re.search(r'name="out:yield_pct"[^>]*\n?[^>]*value="150"', bad.text)
    rec = svc.campaign().trial(0)
    assert rec.outcomes == pytest.approx(outcomes) and "corrections" not in rec.attrs

    fix = {"csrf": csrf, "out:yield_pct": "42", "out:cost_eur": "", "note": "typo"}
    r = _post(svc, "/campaigns/toy/trials/0/correction", fix)
    assert r.status_code == 303
    assert r.headers["location"] == "/campaigns/toy?done=corrected&trial=0#trial-0"
    page = svc.client.get(r.headers["location"]).text
    assert "Trial 0 is corrected" in page
    corrected = re.search(r'data-testid="corrected">([^<]*)<', page)
    assert corrected and corrected.group(1) == "corrected by sam: typo"
    rec = svc.campaign().trial(0)
    assert rec.outcomes == pytest.approx({**outcomes, "yield_pct": 42.0})
    assert rec.attrs["corrections"][0]["previous"] == pytest.approx(outcomes)
    again = _post(svc, "/campaigns/toy/trials/0/correction", fix)
    assert again.headers["location"] == "/campaigns/toy?done=unchanged&trial=0#trial-0"
    assert len(svc.campaign().trial(0).attrs["corrections"]) == 1

    csrf = _login(svc, "tim")  # another staff member: not theirs to correct
    denied = _post(svc, "/campaigns/toy/trials/0/correction", {**fix, "csrf": csrf})
    assert denied.status_code == 409
    assert "recorded by &#39;sam&#39;, not &#39;tim&#39;" in denied.text
    assert svc.campaign().trial(0).outcomes["yield_pct"] == 42.0


def test_the_history_shows_the_recent_results_or_all(svc: Service) -> None:
    svc.measure(14)
    _login(svc, "sam")
    recent = svc.client.get("/campaigns/toy").text
    assert len(re.findall(r'<tr id="history-\d+">', recent)) == 12
    assert "Show all 14 finished experiments" in recent and "Recent history" in recent
    every = svc.client.get("/campaigns/toy?history=all").text
    assert len(re.findall(r'<tr id="history-\d+">', every)) == 14
    assert "Show all" not in every and ">History</h2>" in every
    assert _correction_forms(every) == list(range(13, -1, -1))  # sam recorded all
    assert svc.client.get("/campaigns/toy?history=some").status_code == 422


def test_fail_and_release_forms(svc: Service) -> None:
    csrf = _login(svc, "sam")
    _post(svc, "/campaigns/toy/pull", {"csrf": csrf})
    _post(svc, "/campaigns/toy/pull", {"csrf": csrf})
    page = svc.client.get("/campaigns/toy")
    assert '<option value="short_circuit">short circuit</option>' in page.text
    bad = _post(svc, "/campaigns/toy/trials/0/failure", {"csrf": csrf, "kind": "fire"})
    assert (
        bad.status_code == 422 and "Failure kind &#39;fire&#39; is unknown" in bad.text
    )
    r = _post(
        svc,
        "/campaigns/toy/trials/0/failure",
        {"csrf": csrf, "kind": "build_failed", "note": "cracked"},
    )
    assert "done=failed" in r.headers["location"]
    rec = svc.campaign().trial(0)
    assert (rec.state, rec.failure_kind, rec.attrs["failure_note"]) == (
        "failed",
        "build_failed",
        "cracked",
    )
    r = _post(svc, "/campaigns/toy/trials/1/release", {"csrf": csrf})
    assert "done=released" in r.headers["location"]
    assert svc.campaign().trial(1).claimed_by is None
    again = _post(svc, "/campaigns/toy/trials/0/release", {"csrf": csrf})
    assert again.status_code == 409 and "already failed" in again.text


def test_forms_need_the_csrf_token_and_the_role(svc: Service) -> None:
    csrf = _login(svc, "vera")
    page = svc.client.get("/campaigns/toy")
    assert "Claim next experiment" not in page.text
    denied = _post(svc, "/campaigns/toy/pull", {"csrf": csrf})
    assert denied.status_code == 403 and "needs &#39;staff&#39;" in denied.text
    _login(svc, "sam")
    for data in ({}, {"csrf": "0" * 64}):
        r = _post(svc, "/campaigns/toy/pull", data)
        assert r.status_code == 403 and "reload the page" in r.text
    assert svc.campaign().counts()["pending"] == 0


def test_logout_ends_the_session(svc: Service) -> None:
    csrf = _login(svc, "sam")
    r = _post(svc, "/logout", {"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (
        'doe_session=""' in r.headers["set-cookie"]
        or "Max-Age=0" in r.headers["set-cookie"]
    )
    assert svc.client.get("/", follow_redirects=False).status_code == 303


def test_unknown_campaign_page_is_a_404_page(svc: Service) -> None:
    _login(svc, "vera")
    r = svc.client.get("/campaigns/nope")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "No campaign &#39;nope&#39;" in r.text


def test_an_owner_plans_a_batch_sharing_one_synthesis(svc: Service) -> None:
    staff = _login(svc, "sam")
    assert "Plan a batch" not in svc.client.get("/campaigns/toy").text  # owners only
    refused = _post(svc, "/campaigns/toy/suggestions", {"csrf": staff, "n": "2"})
    assert refused.status_code == 403
    csrf = _login(svc, "olga")
    page = svc.client.get("/campaigns/toy").text
    assert "Plan a batch" in page and 'name="share:temp_c"' in page
    form = {"csrf": csrf, "n": "3", "strategy": "sobol", "share:temp_c": "1"}
    r = _post(svc, "/campaigns/toy/suggestions", form)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/campaigns/toy?done=suggested&trial=0#pending-list"
    trials = svc.campaign().trials()
    assert [t.state for t in trials] == ["pending"] * 3
    assert len({t.params["temp_c"] for t in trials}) == 1
    assert all(t.claimed_by is None for t in trials)
    held = _post(
        svc,
        "/campaigns/toy/suggestions",
        {"csrf": csrf, "n": "2", "fix:conc_mol_l": "0.2"},
    )
    assert held.status_code == 303
    assert [t.params["conc_mol_l"] for t in svc.campaign().trials()[3:]] == [0.2] * 2


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"n": "0"}, "n", "a whole number from 1 to 64; got '0'"),
        ({"n": "2", "fix:temp_c": "95"}, "fixed.temp_c", "must lie in [20, 80] C"),
        (
            {"n": "2", "share:temp_c": "1", "share:conc_mol_l": "1"},
            "shared",
            "repeat one experiment",
        ),
    ],
)
def test_a_bad_batch_form_names_the_field_and_writes_nothing(
    svc: Service, form: dict[str, str], field: str, message: str
) -> None:
    csrf = _login(svc, "olga")
    r = _post(svc, "/campaigns/toy/suggestions", {"csrf": csrf, **form})
    assert r.status_code == 422
    error = re.search(
        rf'<p class="field-error"[^>]*data-field="{field}">([^<]*)</p>', r.text
    )
    assert error, r.text
    assert message in html.unescape(error.group(1))
    assert "No batch was asked for: fix the marked fields." in r.text
    assert svc.campaign().trials() == []
