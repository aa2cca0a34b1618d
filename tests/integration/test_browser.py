"""The lab web page in a real browser: Debian's Chromium driven by Playwright.

A staff member signs in with their token, claims an experiment, fills in the
result form and submits it; the page says it is recorded, and the ledger agrees;
then they correct a typo from the history.
One screenshot at a tablet's size (1024 x 768) goes to ``out/`` (git-ignored).

No ``playwright install``: the browser is ``/usr/bin/chromium`` (``apt-get install
chromium``). The test is skipped, saying what is missing, without it or without the
playwright package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from doe.campaign import Campaign
from tests.conftest import ROOT, toy_outcomes
from tests.integration.test_service_server import DoeServer, doe_server

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLOT_LOADED = "() => { const p = [...document.querySelectorAll('img.plot')]; return p.length >= 2 && p.every(i => i.complete && i.naturalWidth > 0); }"
IMAGES_LOADED = "() => [...document.images].length == 2 && [...document.images].every(i => i.complete && i.naturalWidth > 0)"
SCREENSHOT = ROOT / "out" / "service-tablet-1024x768.png"


@pytest.fixture(name="browser", scope="module")
def fixture_browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("DOE_REQUIRE_BROWSER"):
            pytest.fail(f"DOE_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the playwright Python package is missing: pip install playwright",
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(name="server")
def fixture_server(tmp_path: Path) -> Iterator[DoeServer]:
    with doe_server(tmp_path, {"sam": "staff"}) as server:
        yield server


@contextmanager
def _tablet(browser: Any) -> Iterator[Any]:
    """A page of a fresh browser context at a tablet's size (1024 x 768)."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


def _sign_in(page: Any, server: DoeServer, token: str) -> None:
    """Sign in with ``token`` through the form; lands on the campaign list."""
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{server.url}/")


def test_staff_claims_fills_in_and_records_on_a_tablet(
    browser: Any, server: DoeServer
) -> None:
    with _tablet(browser) as page:
        _sign_in(page, server, server.tokens["sam"])
        assert page.inner_text("[data-testid=who]") == "sam · staff"
        page.click("a.card:has-text('toy')")
        page.wait_for_url(f"{server.url}/campaigns/toy")

        page.click("[data-testid=claim]")
        page.wait_for_selector("[data-testid=message]")
        assert "You claimed trial 0" in page.inner_text("[data-testid=message]")
        form = page.locator("#trial-0 [data-testid=result-form]")
        assert (
            form.locator("label[for=out-0-yield_pct]").inner_text() == "yield_pct [%]"
        )
        assert form.locator("#out-0-cost_eur").get_attribute("type") == "number"
        assert form.locator("#out-0-cost_eur").get_attribute("step") == "any"
        button = form.locator("button[type=submit]")
        box = button.bounding_box()
        assert box is not None and box["height"] >= 48  # a finger-sized target

        values = toy_outcomes(
            Campaign.load("toy", server.storage, tracking=False).trial(0).params
        )
        for name, value in values.items():
            form.locator(f"#out-0-{name}").fill(f"{value:.6g}")
        form.locator("#note-0").fill("bench 3, cell A")
        page.wait_for_function(PLOT_LOADED)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        button.click()
        page.wait_for_selector("[data-testid=message]:has-text('recorded')")
        assert "Trial 0 is recorded" in page.inner_text("[data-testid=message]")
        row = page.locator("#history-0")
        assert "complete" in row.inner_text() and "sam" in row.inner_text()
        assert page.locator("#trial-0").count() == 0  # no longer an open experiment
        page.wait_for_function(PLOT_LOADED)  # the PNGs, with the session cookie

        # a typo found later: corrected from the history, the old value kept
        fix = page.locator("#correct-0")
        assert not fix.locator("#fix-0-yield_pct").is_visible()  # folded away
        fix.locator("summary").click()
        fix.locator("#fix-0-yield_pct").fill("42")
        fix.locator("#fix-0-note").fill("typo: 42, not what was typed")
        fix.locator("button[type=submit]").click()
        page.wait_for_selector("[data-testid=message]:has-text('corrected')")
        badge = page.inner_text("#history-0 [data-testid=corrected]")
        assert badge == "corrected by sam: typo: 42, not what was typed"

    trial = Campaign.load("toy", server.storage, tracking=False).trial(0)
    assert trial.state == "complete"
    assert (
        trial.attrs["recorded_by"] == "sam" and trial.attrs["note"] == "bench 3, cell A"
    )
    expected = {k: float(f"{v:.6g}") for k, v in values.items()}
    assert trial.outcomes == pytest.approx({**expected, "yield_pct": 42.0})
    assert trial.attrs["corrections"][0]["previous"] == pytest.approx(expected)


def test_a_viewer_asks_the_model_what_if(browser: Any, server: DoeServer) -> None:
    from doe.service.auth import AuthStore

    campaign = Campaign.load("toy", server.storage, tracking=False)
    for s in campaign.suggest(6, operator="sam"):
        campaign.record(s.trial_id, toy_outcomes(s.params), operator="sam")
    store = AuthStore(server.storage)
    token = store.add_user("vera", "viewer")
    store.dispose()
    with _tablet(browser) as page:
        _sign_in(page, server, token)
        page.goto(f"{server.url}/campaigns/toy")
        form = page.locator("[data-testid=what-if-form]")
        assert form.locator("#wi-temp_c").get_attribute("max") == "80.0"
        form.locator("#wi-temp_c").fill("50")
        form.locator("#wi-conc_mol_l").fill("0.3")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("[data-testid=what-if-result]")
        text = page.inner_text("[data-testid=what-if-result]")
        assert "yield_pct" in text and "±" in text and "closest measured cell" in text
        assert page.locator("#wi-temp_c").input_value() == "50"  # kept as typed
        page.click("[data-testid=report]")  # the report, with the session cookie
        page.wait_for_url(f"{server.url}/api/campaigns/toy/report.html")
        assert page.inner_text("h1") == "toy"
        page.wait_for_function(IMAGES_LOADED)
        assert page.locator("table[data-testid=pareto] tr").count() > 1
    expected = campaign.predict([{"temp_c": 50.0, "conc_mol_l": 0.3}]).iloc[0]
    assert f"{100 * expected['p_limits']:.0f} %" in text
    assert len(Campaign.load("toy", server.storage, tracking=False).trials()) == 6


def test_staff_claims_with_the_furnace_already_set(
    browser: Any, server: DoeServer
) -> None:
    with _tablet(browser) as page:
        _sign_in(page, server, server.tokens["sam"])
        page.goto(f"{server.url}/campaigns/toy")
        held = page.locator("#claim-fixed")
        assert not held.locator("#hold-temp_c").is_visible()  # folded away
        held.locator("summary").click()
        assert held.locator("label[for=hold-temp_c]").inner_text() == (
            "temp_c [C] optional"
        )
        held.locator("#hold-temp_c").fill("45")
        held.locator("[data-testid=claim-fixed]").click()
        page.wait_for_selector("[data-testid=message]")
        assert "You claimed trial 0" in page.inner_text("[data-testid=message]")
        assert page.inner_text("#trial-0 [data-testid=fixed]") == (
            "Held fixed: temp_c = 45 C"
        )
    rec = Campaign.load("toy", server.storage, tracking=False).trial(0)
    assert rec.params["temp_c"] == 45.0 and rec.claimed_by == "sam"


def test_an_owner_plans_a_batch_from_one_synthesis(
    browser: Any, server: DoeServer
) -> None:
    from doe.service.auth import AuthStore

    store = AuthStore(server.storage)
    token = store.add_user("olga", "owner")
    store.dispose()
    with _tablet(browser) as page:
        _sign_in(page, server, token)
        page.goto(f"{server.url}/campaigns/toy")
        card = page.locator("#plan-batch")
        card.locator("summary").click()
        card.locator("#batch-n").fill("3")
        card.locator("input[name='share:temp_c']").check()
        page.wait_for_function(PLOT_LOADED)
        page.screenshot(
            path=str(SCREENSHOT.with_name("plan-batch.png")), full_page=True
        )
        card.locator("[data-testid=ask-batch]").click()
        page.wait_for_selector("[data-testid=message]")
        assert "from trial 0 on are pending" in page.inner_text("[data-testid=message]")
        assert page.locator("#pending-list tbody tr").count() == 3
    trials = Campaign.load("toy", server.storage, tracking=False).trials()
    assert len({t.params["temp_c"] for t in trials}) == 1
