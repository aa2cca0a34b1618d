"""campaigns/li2s_si/recorded.csv holds what the simulated cell gives (noise=False)."""

from __future__ import annotations

import csv

import pytest

from campaigns.li2s_si import NOMINAL, SimulatedCell
from doe.cli._tables import parse_header
from doe.definition import CampaignDefinition
from tests.conftest import CELL_TOML
from tests.doe.cli import RECORDED_CSV


def _rows() -> tuple[list[tuple[str, str | None]], list[list[str]]]:
    with RECORDED_CSV.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = [parse_header(h) for h in next(reader)]
        return header, list(reader)


def test_recorded_cells_are_the_papers_two_full_cells() -> None:
    header, rows = _rows()
    names = [n for n, _ in header]
    loadings = [float(r[names.index("li2s_loading_mg_cm2")]) for r in rows]
    assert loadings == [1.0, 2.5]
    for row in rows:
        settings = {k: float(row[names.index(k)]) for k in NOMINAL}
        assert settings == dict(
            NOMINAL, li2s_loading_mg_cm2=settings["li2s_loading_mg_cm2"]
        )
        assert "Fig. 4c" in row[names.index("note")]


def test_recorded_headers_carry_the_campaigns_units() -> None:
    d = CampaignDefinition.from_toml(CELL_TOML)
    header, _ = _rows()
    units = dict(header)
    for p in d.space.parameters:
        assert units[p.name] == p.unit
    for name in d.outcome_names:
        assert units[name] == d.outcome_unit(name)
    assert units["note"] is None


def test_recorded_values_match_the_simulated_cell() -> None:
    header, rows = _rows()
    names = [n for n, _ in header]
    d = CampaignDefinition.from_toml(CELL_TOML)
    for row in rows:
        settings = {k: float(row[names.index(k)]) for k in NOMINAL}
        sim = SimulatedCell(noise=False).evaluate(settings)
        for name in d.outcome_names:
            text = row[names.index(name)]
            decimals = len(text.split(".")[1]) if "." in text else 0
            assert float(text) == pytest.approx(sim[name], abs=0.51 * 10**-decimals), (
                name
            )
