"""``doe report``: the campaign's progress as one self-contained HTML file."""

from __future__ import annotations

import base64
import copy
import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from doe import Campaign
from doe.report import campaign_report, report_html
from tests.conftest import TOY, toy_outcomes


class _Tables(HTMLParser):
    """The text of every cell of every table with a ``data-testid``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-testid"):
            self._table = str(a["data-testid"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "img":
            self.images.append(str(a.get("src")))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Tables:
    parser = _Tables()
    parser.feed(text)
    return parser


@pytest.fixture(name="campaign")
def fixture_campaign(sqlite_url: str) -> Campaign:
    """Eight measured toy experiments, one failed, one corrected, one pending."""
    definition = {**copy.deepcopy(TOY), "strategy": "sobol", "tracking": False}
    c = Campaign.create(definition, storage=sqlite_url)
    batch = c.suggest(10, operator="ana")
    for s in batch[:8]:
        c.record(s.trial_id, toy_outcomes(s.params), operator="ana")
    c.fail(batch[8].trial_id, "short_circuit", "<script>alert(1)</script> shorted")
    c.correct(batch[0].trial_id, {"yield_pct": 1.0}, note="typo", operator="bo")
    wider = copy.deepcopy(definition)
    wider["parameters"][0]["high"] = 90.0
    c.update_definition(wider, note="hotter", operator="cy")
    return c


def test_the_report_holds_the_progress_with_units(campaign: Campaign) -> None:
    now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    text = report_html(campaign, now=now)
    data = campaign_report(campaign, model=True)
    page = _parse(text)
    assert "<title>toy · report 2026-12-02 09:30 UTC</title>" in text
    flat = " ".join(text.split())
    assert "<strong>8</strong> measured, 1 failed, 1 pending, 0 abandoned" in flat

    pareto = page.tables["pareto"]
    assert pareto[0] == ["trial", "temp_c [C]", "conc_mol_l [mol/L]",
                         "yield_pct [%]", "cost_eur [EUR]", "purity_pct [%]"]  # fmt: skip
    assert [int(row[0]) for row in pareto[1:]] == [r["trial"] for r in data["pareto"]]
    best = {row[0]: row for row in page.tables["best"][1:]}
    front = campaign.pareto()
    for o in campaign.definition.objectives:
        top = front.loc[(o.sign * front[o.name]).idxmax()]
        assert int(best[o.name][2]) == int(top["trial"])
    rounds = page.tables["rounds"]
    assert [int(r[1]) for r in rounds[1:]] == [
        h["n_complete"] for h in data["hypervolume_by_round"]
    ]
    assert [row[0] for row in page.tables["quality"][1:]] == list(data["model_quality"])
    assert len(page.tables["model-pareto"]) == len(data["model_pareto"]) + 1
    assert page.tables["pending"][1][:3] == ["9", "1", "ana"]

    # what went wrong and what changed, escaped
    (failed,) = page.tables["failed"][1:]
    assert failed[:3] == ["8", "short circuit", "<script>alert(1)</script> shorted"]
    assert "<script" not in text and "&lt;script&gt;" in text
    (fix,) = page.tables["corrections"][1:]
    assert fix[2:4] == ["bo", "typo"] and fix[4].startswith("yield_pct ")
    (change,) = page.tables["definition-changes"][1:]
    assert change[1:] == ["cy", "hotter", "parameters.temp_c.high: 80.0 → 90.0"]
    trials = page.tables["trials"]
    assert [row[0] for row in trials[1:]] == [str(n) for n in range(10)]
    assert trials[9][1] == "failed: short circuit" and trials[10][1] == "pending"
    assert trials[1][4] == "1" and trials[1][-2] == "ana"  # the corrected yield
    assert page.tables["knobs"][1] == ["temp_c", "C", "20", "90", "linear"]
    assert page.tables["objectives"][3] == ["purity_pct", "recorded", "%", "-", ">= 90"]

    # both plots are embedded PNGs: the file needs nothing else
    import matplotlib.image

    assert len(page.images) == 2
    for src in page.images:
        head, _, payload = src.partition(",")
        assert head == "data:image/png;base64"
        png = matplotlib.image.imread(
            io.BytesIO(base64.b64decode(payload)), format="png"
        )
        assert png.shape[:2] == (480, 640)
    assert not re.search(r'(src|href)="(https?:|/)', text)


def test_without_the_model_the_report_leaves_its_sections_out(
    campaign: Campaign,
) -> None:
    page = _parse(report_html(campaign, model=False))
    assert "quality" not in page.tables and "model-pareto" not in page.tables
    assert "pareto" in page.tables and "best" in page.tables


def test_an_empty_campaign_reports_what_is_missing(sqlite_url: str) -> None:
    c = Campaign.create({**copy.deepcopy(TOY), "tracking": False}, storage=sqlite_url)
    text = report_html(c)
    assert "No measured cell meets every limit yet." in text
    assert "too few measurements to cross-validate the model" in text
    page: Any = _parse(text)
    assert "pareto" not in page.tables and len(page.images) == 2


def test_pending_experiments_say_what_was_held_fixed(sqlite_url: str) -> None:
    definition = {**copy.deepcopy(TOY), "strategy": "sobol", "tracking": False}
    c = Campaign.create(definition, storage=sqlite_url)
    c.suggest(1, operator="ana")
    c.suggest(1, operator="ana", fixed={"temp_c": 45.0})
    pending = _parse(report_html(c)).tables["pending"]
    assert pending[0][-1] == "held fixed"
    assert [row[-1] for row in pending[1:]] == ["-", "temp_c=45"]
