"""A whole campaign through the command line (in-process, typer's CliRunner)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from doe import Campaign
from tests.conftest import CELL_TOML
from tests.doe.cli import (
    GOOD,
    OBJECTIVES,
    copy_ledger,
    invoke,
    ok,
    seeded_template,
    snapshot,
    sobol_toml,
)


@pytest.fixture(name="template", scope="module")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(name="storage")
def fixture_storage(template: Path, tmp_path: Path) -> str:
    """A campaign (sobol strategy) with the two recorded cells of the paper."""
    return copy_ledger(template, tmp_path)


def _campaign(storage: str) -> Campaign:
    return Campaign.load(storage=storage, tracking=False)


def test_init_prints_knobs_objectives_limits_and_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/doe.db"
    result = ok(url, "init", str(sobol_toml(tmp_path)))
    out = result.stdout
    for text in ("li2s-si-gpe", "nitridation_temp_c", "mg/cm2", "300", "550"):
        assert text in out
    for text in ("specific_energy_wh_kg", "maximize", "Wh/kg", ">= 70", "sobol", url):
        assert text in out
    assert re.search(r"retention_pct .*│ 40 .*│ inferred .*│ 0 to 110 ", out)
    assert "Created campaign 'li2s-si-gpe'" in result.stderr
    assert "A new study created" not in result.output  # Optuna's INFO line is hidden


PRIOR = 'prior = "campaigns.li2s_si.prior:expected"'  # the cell file's [gp] table
DESIGN = 'design_region = "prior"'  # needs the prior


def test_init_shows_the_gp_table(tmp_path: Path) -> None:
    path = sobol_toml(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace(PRIOR, "tail_floor = 0.05")
        .replace(DESIGN, ""),
        encoding="utf-8",
    )
    out = ok(f"sqlite:///{tmp_path}/doe.db", "init", str(path)).stdout
    assert (
        "GP settings: noise_share = 0.6, tail_floor = 0.05, trust_length = 'off'" in out
    )
    cell = ok(f"sqlite:///{tmp_path}/cell.db", "init", str(CELL_TOML)).stdout
    assert (
        "GP settings: design_region = 'prior', noise_share = 0.6, prior = "
        "'campaigns.li2s_si.prior:expected', trust_length = 'off'" in cell
    )


def test_init_refuses_a_bad_gp_table_and_writes_nothing(tmp_path: Path) -> None:
    path = sobol_toml(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8").replace(PRIOR, "tail_floor = -0.5"),
        encoding="utf-8",
    )
    result = invoke(f"sqlite:///{tmp_path}/doe.db", "init", str(path))
    assert result.exit_code != 0
    assert "tail_floor must be a number >= 0" in result.stderr
    assert "got -0.5" in result.stderr
    assert not (tmp_path / "doe.db").exists()


def test_import_adds_recorded_cells_and_campaigns_lists_counts(storage: str) -> None:
    trials = _campaign(storage).trials()
    assert [t.state for t in trials] == ["complete", "complete"]
    assert all(t.attrs["source"] == "recorded" for t in trials)
    assert trials[1].params["li2s_loading_mg_cm2"] == 2.5
    assert "Fig. 4c" in trials[0].attrs["note"]
    listed = json.loads(ok(storage, "campaigns", "--format", "json").stdout)
    assert listed == [
        {
            "name": "li2s-si-gpe",
            "strategy": "sobol",
            "pending": 0,
            "complete": 2,
            "failed": 0,
            "abandoned": 0,
        }
    ]
    assert "li2s-si-gpe" in ok(storage, "campaigns").stdout


def test_suggest_table_shows_units_strategy_and_reason(storage: str) -> None:
    result = ok(storage, "suggest", "-n", "2", "--operator", "ana")
    for text in ("trial", "co_precursor_g [g]", "np_ratio [-]", "sobol"):
        assert text in result.stdout
    assert "Suggested trial(s) 2, 3" in result.stderr
    trials = _campaign(storage).trials()
    assert [t.state for t in trials[2:]] == ["pending", "pending"]
    assert trials[2].attrs["asked_by"] == "ana"


def test_suggest_json_and_csv_on_stdout_and_to_files(
    storage: str, tmp_path: Path
) -> None:
    doc = json.loads(ok(storage, "suggest", "-n", "2", "--format", "json").stdout)
    assert doc["campaign"] == "li2s-si-gpe"
    assert doc["units"]["li2s_loading_mg_cm2"] == "mg/cm2"
    assert [s["trial"] for s in doc["suggestions"]] == [2, 3]
    first = doc["suggestions"][0]
    assert set(first["settings"]) == set(_campaign(storage).definition.space.names)
    assert first["strategy"] == "sobol" and first["acq_value"] is None
    out = ok(storage, "suggest", "--format", "csv").stdout
    rows = list(pd.read_csv(pd.io.common.StringIO(out)).itertuples())
    assert len(rows) == 1 and rows[0].trial == 4
    path = tmp_path / "batch.json"
    result = ok(storage, "suggest", "-n", "3", "--output", str(path))
    assert result.stdout == ""
    assert [s["trial"] for s in json.loads(path.read_text())["suggestions"]] == [
        5,
        6,
        7,
    ]
    table = pd.read_csv(_write_csv(storage, tmp_path))
    assert list(table["trial"]) == [8, 9]
    assert "co_precursor_g [g]" in table.columns


def _write_csv(storage: str, tmp_path: Path) -> Path:
    path = tmp_path / "batch.csv"
    ok(storage, "suggest", "-n", "2", "--format", "csv", "--output", str(path))
    return path


def test_pull_claims_and_release_frees(storage: str) -> None:
    ok(storage, "suggest", "-n", "2")
    panel = ok(storage, "pull", "--operator", "ana").stdout
    assert "Trial 2 — build this cell" in panel
    assert "li2s_loading_mg_cm2 =" in panel and "mg/cm2" in panel
    assert "doe record 2 specific_energy_wh_kg=" in panel
    got = json.loads(
        ok(storage, "pull", "--operator", "ben", "--format", "json").stdout
    )
    assert got["trial"] == 3 and got["claimed_by"] == "ben" and got["claim_until"]
    new = json.loads(
        ok(
            storage, "pull", "--operator", "cy", "--lease-hours", "2", "-f", "json"
        ).stdout
    )
    assert new["trial"] == 4  # none free: a new suggestion, claimed
    ok(storage, "release", "3", "--operator", "ben")
    assert _campaign(storage).trial(3).claimed_by is None
    again = json.loads(ok(storage, "pull", "--operator", "dee", "-f", "json").stdout)
    assert again["trial"] == 3
    ok(storage, "release", "3", "--force")
    assert _campaign(storage).trial(3).claimed_by is None


def test_suggest_and_pull_with_knobs_held_fixed(storage: str) -> None:
    shelf = ["--fix", "co_precursor_g=0.4", "--fix", "nitridation_temp_c=450"]
    result = ok(storage, "suggest", "-n", "2", *shelf)
    assert (
        "Held fixed: co_precursor_g = 0.4 g, nitridation_temp_c = 450 C."
        in result.stderr
    )
    trials = _campaign(storage).trials()[2:]
    assert [
        (t.params["co_precursor_g"], t.params["nitridation_temp_c"]) for t in trials
    ] == [(0.4, 450.0)] * 2
    doc = json.loads(ok(storage, "suggest", "--format", "json").stdout)
    assert doc["suggestions"][0]["fixed"] == {}  # trial 4: nothing held
    panel = ok(storage, "pull", "--operator", "ana", *shelf).stdout
    assert "Trial 2 — build this cell" in panel  # the oldest holding the values
    assert re.search(r"co_precursor_g\s+= 0.4 g \(fixed\)", panel)
    assert not re.search(r"np_ratio .*\(fixed\)", panel)
    got = json.loads(
        ok(
            storage, "pull", "--operator", "ben", "--fix", "np_ratio=1.5", "-f", "json"
        ).stdout
    )
    assert got["trial"] == 5 and got["fixed"] == {"np_ratio": 1.5}
    assert got["settings"]["np_ratio"] == 1.5
    status = json.loads(ok(storage, "status", "--no-model", "-f", "json").stdout)
    held = {p["trial"]: p["fixed"] for p in status["pending"]}
    assert held[3] == {"co_precursor_g": 0.4, "nitridation_temp_c": 450.0}
    assert held[4] == {}
    table = ok(storage, "status", "--no-model").stdout
    assert "held fixed" in table and "np_ratio=1.5" in table


def test_suggest_a_batch_sharing_one_synthesis(storage: str) -> None:
    shared = ["--shared", "co_precursor_g,nitridation_temp_c"]
    doc = json.loads(ok(storage, "suggest", "-n", "3", *shared, "-f", "json").stdout)
    rows = doc["suggestions"]
    assert (
        len(
            {
                (r["settings"]["co_precursor_g"], r["settings"]["nitridation_temp_c"])
                for r in rows
            }
        )
        == 1
    )
    assert len({r["settings"]["np_ratio"] for r in rows}) == 3
    assert all(r["shared"] == ["co_precursor_g", "nitridation_temp_c"] for r in rows)
    result = ok(storage, "suggest", "-n", "2", "--shared", "nitridation_temp_c")
    assert re.search(
        r"The 2 experiments share nitridation_temp_c = [0-9.]+ C \(one batch of material\)",
        result.stderr,
    )


def test_record_from_arguments_fail_and_abandon(storage: str) -> None:
    ok(storage, "suggest", "-n", "3")
    result = ok(
        storage, "record", "2", *GOOD, "average_voltage_v=1.55", "--operator", "ana"
    )
    assert "Recorded trial 2" in result.stderr
    ok(
        storage,
        "fail",
        "3",
        "--kind",
        "short_circuit",
        "--note",
        "shorted in formation",
    )
    ok(storage, "abandon", "4", "--note", "precursor ran out")
    c = _campaign(storage)
    rec = c.trial(2)
    assert rec.state == "complete" and rec.attrs["recorded_by"] == "ana"
    assert rec.outcomes == {
        "specific_energy_wh_kg": 251.0,
        "retention_pct": 70.2,
        "safety_score": 84.0,
        "average_voltage_v": 1.55,
    }
    assert c.trial(3).failure_kind == "short_circuit"
    assert c.trial(3).attrs["failure_note"] == "shorted in formation"
    assert c.trial(4).state == "abandoned"
    assert c.counts() == {"pending": 0, "complete": 3, "failed": 1, "abandoned": 1}


def test_record_from_csv_with_units_and_notes(storage: str, tmp_path: Path) -> None:
    ok(storage, "suggest", "-n", "2")
    path = tmp_path / "results.csv"
    path.write_text(
        "trial,specific_energy_wh_kg [Wh/kg],retention_pct [%],safety_score,"
        "initial_capacity_mah_g [mAh/g],note\n"
        "2,251,70.2,84,810,first cell\n"
        "\n"
        "3,240.5,66,79.5,,\n",
        encoding="utf-8",
    )
    result = ok(storage, "record", "--file", str(path), "--operator", "ana")
    assert "Recorded 2 trial(s)" in result.stderr
    c = _campaign(storage)
    assert c.trial(2).outcomes["initial_capacity_mah_g"] == 810.0
    assert c.trial(2).attrs["note"] == "first cell"
    assert c.trial(3).outcomes == {
        "specific_energy_wh_kg": 240.5,
        "retention_pct": 66.0,
        "safety_score": 79.5,
    }
    assert c.trial(3).attrs["recorded_by"] == "ana"


def test_record_from_xlsx(storage: str, tmp_path: Path) -> None:
    ok(storage, "suggest", "-n", "2")
    path = tmp_path / "results.xlsx"
    pd.DataFrame(
        {
            "trial": [3, 2],
            "specific_energy_wh_kg [Wh/kg]": [230.0, 251.0],
            "retention_pct [%]": [61.5, 70.2],
            "safety_score [0-100]": [77.0, 84.0],
        }
    ).to_excel(path, index=False)
    ok(storage, "record", "--file", str(path))
    c = _campaign(storage)
    assert c.trial(2).outcomes["retention_pct"] == 70.2
    assert c.trial(3).outcomes["specific_energy_wh_kg"] == 230.0


def test_import_xlsx_with_a_failed_row(storage: str, tmp_path: Path) -> None:
    path = tmp_path / "notebook.xlsx"
    pd.DataFrame(
        {
            "co_precursor_g [g]": [0.2, 0.6],
            "nitridation_temp_c [C]": [380, 450],
            "li2s_loading_mg_cm2": [3.0, 6.0],
            "eo_li_ratio": [12, 30],
            "np_ratio [-]": [1.1, 1.5],
            "specific_energy_wh_kg": [255.0, None],
            "retention_pct": [60.0, None],
            "safety_score": [80.0, None],
            "failure_kind": [None, "build_failed"],
            "note": [None, "cracked"],
        }
    ).to_excel(path, index=False)
    result = ok(storage, "import", str(path), "--operator", "lab")
    assert "as trial(s) 2-3" in result.stderr
    c = _campaign(storage)
    assert c.trial(2).state == "complete" and c.trial(2).params["eo_li_ratio"] == 12.0
    assert c.trial(3).failure_kind == "build_failed"
    assert c.trial(3).attrs["failure_note"] == "cracked"


def _measure(storage: str, trial: int, energy: float, safety: float) -> None:
    ok(
        storage,
        "record",
        str(trial),
        f"specific_energy_wh_kg={energy}",
        "retention_pct=70",
        f"safety_score={safety}",
    )


def test_status_table_and_json(storage: str) -> None:
    ok(storage, "suggest", "-n", "2")
    _measure(storage, 2, 300.0, 77.0)  # beats recorded trial 1 (267.9, 67.7, 76.13)
    _measure(storage, 3, 350.0, 60.0)  # misses the safety limit: not on the front
    ok(storage, "suggest", "-n", "1")
    ok(storage, "pull", "--operator", "ana")
    doc = json.loads(ok(storage, "status", "--format", "json", "--no-model").stdout)
    assert doc["counts"] == {"pending": 1, "complete": 4, "failed": 0, "abandoned": 0}
    assert doc["pending"][0]["trial"] == 4 and doc["pending"][0]["claimed_by"] == "ana"
    assert [r["trial"] for r in doc["pareto"]] == [2, 0]  # 1 is dominated by 2
    assert doc["pareto"][0]["settings"]["np_ratio"] > 0
    assert doc["reference_point"] == {
        "specific_energy_wh_kg": 100.0,
        "retention_pct": 40.0,
        "safety_score": 70.0,
    }
    by_round = doc["hypervolume_by_round"]
    assert [r["round"] for r in by_round] == [0, 1, 2]
    assert [r["n_complete"] for r in by_round] == [2, 4, 4]
    assert [r["n_feasible"] for r in by_round] == [2, 3, 3]
    c = _campaign(storage)
    assert by_round[-1]["hypervolume"] == pytest.approx(c.hypervolume())
    assert 0 < by_round[0]["hypervolume"] < by_round[1]["hypervolume"]
    assert doc["model_quality"] is None and doc["model_pareto"] is None
    table = ok(storage, "status", "--no-model").stdout
    for text in ("Pareto front", "Hypervolume by round", "0 (recorded)", "Pending"):
        assert text in table
    assert "specific_energy_wh_kg [Wh/kg]" in table


def test_status_model_quality(storage: str) -> None:
    early = ok(storage, "status").stdout
    assert "too few measurements" in early and "by the model" not in early
    from campaigns.li2s_si import SimulatedCell

    cell = SimulatedCell(noise=False)
    for s in _campaign(storage).suggest(8, operator="ana"):
        out = cell.evaluate(s.params)
        values = [f"{k}={out[k]:.3f}" for k in OBJECTIVES]
        ok(storage, "record", str(s.trial_id), *values)
    doc = json.loads(ok(storage, "status", "-f", "json").stdout)
    quality = doc["model_quality"]
    assert set(quality) == set(OBJECTIVES)
    assert quality["specific_energy_wh_kg"]["n"] == 10
    assert quality["specific_energy_wh_kg"]["r2"] > 0.3
    table = ok(storage, "status").stdout
    assert "Model quality (leave-one-out)" in table
    # The table shows 3 significant digits (rounding to 2 decimals instead only
    # matched the table when the third digit happened to round down).
    from doe.space import format_number

    assert f"│ {format_number(quality['retention_pct']['r2'], 3)} │" in table
    # the cell file's [gp] prior covers all three objectives: their weights show
    assert all(isinstance(quality[k]["prior_weight"], float) for k in OBJECTIVES)
    assert "prior weight" in table
    weight = format_number(quality["specific_energy_wh_kg"]["prior_weight"], 2)
    assert re.search(rf"│\s+{re.escape(weight)} │\n", table)  # the last column
    # The front by the model's estimate: the Campaign's, with estimate and measured
    front = _campaign(storage).pareto(model=True)
    rows = doc["model_pareto"]
    assert sorted(r["trial"] for r in rows) == sorted(front["trial"])
    first = rows[0]
    mean, sd = first["estimate"]["safety_score"]
    assert sd > 0 and first["outcomes"]["safety_score"] > 0
    assert f"Pareto front by the model's estimate ({len(rows)} trials" in table
    assert f"{format_number(mean)} ± {format_number(sd, 2)} (" in table


def test_correct_a_recorded_result(storage: str) -> None:
    ok(storage, "suggest", "-n", "1", "--operator", "ana")
    ok(storage, "record", "2", *GOOD)
    before = snapshot(storage)
    for args, message in (
        (["2", "retention_pct=72.0"], "Missing option '--note'"),
        (["2", "retention_pct=abc", "--note", "x"], "must be a number"),
        (["2", "retention_pct=720", "--note", "x"], "outside its valid range"),
        (["5", "retention_pct=72", "--note", "x"], "has no trial 5"),
    ):
        result = invoke(storage, "correct", *args)
        assert result.exit_code in (1, 2), (args, result.stderr)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
    assert snapshot(storage) == before
    result = ok(storage, "correct", "2", "retention_pct=72.0", "--note", "typo",
                "--operator", "bo")  # fmt: skip
    assert (
        "Corrected trial 2 of campaign 'li2s-si-gpe': retention_pct 70.2 -> 72 %"
        in (" ".join(result.stderr.split()))
    )
    rec = _campaign(storage).trial(2)
    assert rec.outcomes["retention_pct"] == 72.0
    assert rec.outcomes["safety_score"] == 84.0  # the others stay
    assert rec.attrs["corrections"][0]["by"] == "bo"
    same = ok(storage, "correct", "2", "retention_pct=72", "--note", "again")
    assert "already holds these values; nothing changed" in same.stderr
    exported = pd.read_csv(pd.io.common.StringIO(ok(storage, "export").stdout))
    row = exported.set_index("trial").loc[2]
    assert row["retention_pct [%]"] == 72.0 and row["corrections"] == 1
    assert re.fullmatch(
        r"\S+ by bo: typo \(was retention_pct=70\.2\)", row["corrected"]
    )


def test_update_applies_a_changed_campaign_file(storage: str, tmp_path: Path) -> None:
    text = sobol_toml(tmp_path).read_text(encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(
        text.replace("high = 550.0", "high = 600.0").replace(
            "threshold = 40.0", "threshold = 50.0"
        ),
        encoding="utf-8",
    )
    before = snapshot(storage)
    dry = ok(storage, "update", str(changed), "--dry-run")
    rows = [" ".join(line.strip("│ ").split()) for line in dry.stdout.splitlines()]
    assert "parameters.nitridation_temp_c.high │ 550 C │ 600 C" in rows
    assert "objectives.retention_pct.threshold │ 40 % │ 50 %" in rows
    assert "Dry run: nothing written" in dry.stderr
    assert _campaign(storage).definition.space["nitridation_temp_c"].high == 550.0

    done = ok(storage, "update", str(changed), "--note", "widen", "--operator", "bo")
    assert "Updated campaign 'li2s-si-gpe' (definition" in done.stderr
    assert snapshot(storage) == before
    campaign = _campaign(storage)
    assert campaign.definition.space["nitridation_temp_c"].high == 600.0
    (change,) = campaign.definition_history()
    assert (change["by"], change["note"]) == ("bo", "widen")
    status = " ".join(ok(storage, "status", "--no-model").stdout.split())
    assert "Definition updated 1 time(s);" in status
    assert "by bo (widen): parameters.nitridation_temp_c.high, " in status
    again = ok(storage, "update", str(changed))
    assert "already has this definition; nothing changed" in again.stderr

    # the recorded cells hold 1 and 2.5 mg/cm2: a low of 2 leaves one outside
    narrow = tmp_path / "narrow.toml"
    narrow.write_text(
        changed.read_text(encoding="utf-8").replace("low = 0.5", "low = 2.0"),
        encoding="utf-8",
    )
    bad = invoke(storage, "update", str(narrow))
    assert bad.exit_code == 2, bad.stderr
    assert (
        "knob 'li2s_loading_mg_cm2' low = 2 mg/cm2 leaves trial 0 (complete, 1 "
        "mg/cm2) outside. Keep low at or below 1 mg/cm2" in " ".join(bad.stderr.split())
    )
    assert _campaign(storage).definition.space["li2s_loading_mg_cm2"].low == 0.5
    assert len(_campaign(storage).definition_history()) == 1
    other = sobol_toml(tmp_path, name="other")
    lost = invoke(storage, "update", str(other))
    assert lost.exit_code == 1
    assert "names campaign 'other': a campaign keeps its name" in " ".join(
        lost.stderr.split()
    )
    renamed = invoke(storage, "--campaign", "li2s-si-gpe", "update", str(other))
    assert renamed.exit_code == 2 and "cannot be renamed to 'other'" in renamed.stderr


def test_report_writes_one_html_file(storage: str, tmp_path: Path) -> None:
    out = tmp_path / "weekly.html"
    result = ok(storage, "report", "--out", str(out), "--no-model")
    assert f"Wrote the report of campaign 'li2s-si-gpe' to {out}" in " ".join(
        result.stderr.split()
    )
    text = out.read_text(encoding="utf-8")
    assert "<h1>li2s-si-gpe</h1>" in text and "specific_energy_wh_kg [Wh/kg]" in text
    assert text.count('src="data:image/png;base64,') == 2
    for bad, message in (
        (tmp_path, "is a folder; name an .html file"),
        (tmp_path / "no" / "r.html", "does not exist"),
    ):
        result = invoke(storage, "report", "--out", str(bad))
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "no").exists()


NOMINAL = ("co_precursor_g=0.4", "nitridation_temp_c=450", "li2s_loading_mg_cm2=2.5",
           "eo_li_ratio=16", "np_ratio=1.2")  # fmt: skip


def test_predict_one_setting_or_a_file(storage: str, tmp_path: Path) -> None:
    early = invoke(storage, "predict", *NOMINAL)
    assert early.exit_code == 1
    assert "has 2 measured experiment(s); the model needs at least 4" in " ".join(
        early.stderr.split()
    )
    from campaigns.li2s_si import SimulatedCell

    cell = SimulatedCell(noise=False)
    for s in _campaign(storage).suggest(8, operator="ana"):
        out = cell.evaluate(s.params)
        ok(storage, "record", str(s.trial_id),
           *[f"{k}={out[k]:.3f}" for k in OBJECTIVES])  # fmt: skip
    before = snapshot(storage)
    table = wide_stdout(storage, "predict", *NOMINAL)
    for text in ("What the model expects (li2s-si-gpe, fitted on 10 measured",
                 "P(limits met)", "nearest (distance)", "safety_score [0-100]"):  # fmt: skip
        assert text in table, text
    path = tmp_path / "recipes.csv"
    path.write_text(
        "label,co_precursor_g [g],nitridation_temp_c,li2s_loading_mg_cm2,"
        "eo_li_ratio,np_ratio\nthin,0.4,450,1.0,16,1.2\nplating,0.4,450,2.5,16,0.92\n",
        encoding="utf-8",
    )
    doc = json.loads(ok(storage, "predict", "--file", str(path), "-f", "json").stdout)
    rows = doc["predictions"]
    assert [r["label"] for r in rows] == ["thin", "plating"]
    expected = _campaign(storage).predict(
        [{"co_precursor_g": 0.4, "nitridation_temp_c": 450, "eo_li_ratio": 16,
          "li2s_loading_mg_cm2": load, "np_ratio": np_ratio}
         for load, np_ratio in ((1.0, 1.2), (2.5, 0.92))]
    )  # fmt: skip
    for row, (_, exp) in zip(rows, expected.iterrows(), strict=True):
        assert row["est_safety_score"] == pytest.approx(exp["est_safety_score"])
        assert row["p_limits"] == pytest.approx(exp["p_limits"])
        assert row["nearest_trial"] == exp["nearest_trial"]
    assert rows[1]["p_limits"] < rows[0]["p_limits"]  # plating costs safety
    table = wide_stdout(storage, "predict", "--file", str(path))
    assert "label" in table and "plating" in table
    assert snapshot(storage) == before  # predicting writes nothing


def wide_stdout(storage: str, *args: str) -> str:
    """`ok` with a terminal wide enough for the whole table."""
    from typer.testing import CliRunner

    from doe.cli import app

    result = CliRunner(env={"COLUMNS": "300", "DOE_CAMPAIGN": None}).invoke(
        app, ["--storage", storage, "--no-tracking", *args]
    )
    assert result.exit_code == 0, (result.stderr, result.exception)
    return str(result.stdout)


@pytest.mark.parametrize(
    ("args", "content", "message"),
    [
        pytest.param([], None, "not neither", id="neither"),
        pytest.param(
            ["np_ratio=1.2", "--file", "r.csv"], "np_ratio\n1\n", "not both", id="both"
        ),
        pytest.param(
            ["np_ratio=1.2"], None, "Missing value for parameter(s)", id="missing-knob"
        ),
        pytest.param(
            ["--file", "r.csv"],
            "np_ratio [%]\n1.2\n",
            "is in '%', but campaign 'li2s-si-gpe' records 'np_ratio' in '-'",
            id="unit",
        ),
        pytest.param(
            ["--file", "r.csv"],
            "label,np_ratio\nx,1.2\n",
            "lacks the column(s) 'co_precursor_g'",
            id="columns",
        ),
        pytest.param(
            ["--file", "r.csv"],
            "co_precursor_g,nitridation_temp_c,li2s_loading_mg_cm2,"
            "eo_li_ratio,np_ratio\n0.4,450,2.5,16,1.2\n0.4,450,2.5,16,7\n",
            "'np_ratio' in r.csv row 3 must lie in [0.9, 2]",
            id="range",
        ),
    ],
)
def test_predict_usage_errors(
    storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    args: list[str], content: str | None, message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "r.csv").write_text(content, encoding="utf-8")
    result = invoke(storage, "predict", *args)
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert message in " ".join(result.stderr.split())


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export(storage: str, tmp_path: Path, fmt: str) -> None:
    ok(storage, "suggest", "-n", "2", "--operator", "ana")
    _measure(storage, 2, 300.0, 75.0)
    path = tmp_path / f"trials.{fmt}"
    ok(storage, "export", "--format", fmt, "--output", str(path))
    table = pd.read_csv(path) if fmt == "csv" else pd.read_excel(path)
    assert list(table["trial"]) == [0, 1, 2, 3]
    assert list(table["state"]) == ["complete", "complete", "complete", "pending"]
    assert list(table["source"]) == ["recorded", "recorded", "suggested", "suggested"]
    assert table.loc[2, "specific_energy_wh_kg [Wh/kg]"] == 300.0
    assert math.isnan(table.loc[3, "retention_pct [%]"])
    assert table.loc[1, "li2s_loading_mg_cm2 [mg/cm2]"] == 2.5
    assert table.loc[3, "asked_by"] == "ana"


def test_export_csv_to_stdout(storage: str) -> None:
    out = ok(storage, "export").stdout
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert len(table) == 2 and "note" not in table.columns


def test_campaign_option_and_env_pick_one_of_several(
    storage: str, tmp_path: Path
) -> None:
    ok(storage, "init", str(sobol_toml(tmp_path, name="second")))
    before = snapshot(storage, "li2s-si-gpe")
    ok(storage, "--campaign", "second", "suggest")
    result = invoke(storage, "suggest", env={"DOE_CAMPAIGN": "second"})
    assert result.exit_code == 0, result.stderr
    assert len(snapshot(storage, "second")) == 2
    assert snapshot(storage, "li2s-si-gpe") == before
