"""One suggestion by the default `gp` strategy through the command line.

A small one-objective campaign keeps the model fit and qLogNEI optimisation to a
few seconds; the full Li2S||Si campaign (three objectives, log-EHVI) is covered by
the strategy's own tests and by the replays.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doe import Campaign
from tests.doe.cli import ok

TOML = """
name = "one-objective"
initial_design = 4

[[parameters]]
name = "temp_c"
low = 20.0
high = 80.0
unit = "C"

[[parameters]]
name = "conc_mol_l"
low = 0.01
high = 1.0
unit = "mol/L"

[[objectives]]
name = "yield_pct"
direction = "maximize"
unit = "%"
"""

RECORDED = """temp_c [C],conc_mol_l [mol/L],yield_pct [%]
25,0.1,12.5
40,0.8,58.0
55,0.4,61.2
70,0.9,75.1
78,0.05,4.0
"""


@pytest.mark.slow
def test_gp_suggestion_shows_predictions_with_units(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/doe.db"
    (tmp_path / "c.toml").write_text(TOML, encoding="utf-8")
    (tmp_path / "recorded.csv").write_text(RECORDED, encoding="utf-8")
    ok(url, "init", str(tmp_path / "c.toml"))
    ok(url, "import", str(tmp_path / "recorded.csv"))
    table = ok(url, "suggest", "--operator", "ana").stdout
    assert "yield_pct [%]" in table and "±" in table and "qLogNEI" in table
    doc = json.loads(ok(url, "pull", "--operator", "ana", "--format", "json").stdout)
    assert doc["trial"] == 5 and doc["strategy"] == "gp"
    assert doc["reason"].startswith("model: qLogNEI")
    pred = doc["predicted"]["yield_pct"]
    assert pred["unit"] == "%" and pred["std"] > 0
    rec = Campaign.load(storage=url, tracking=False).trial(5)
    assert rec.attrs["provenance"]["predicted"]["yield_pct"][0] == pytest.approx(
        pred["mean"]
    )
