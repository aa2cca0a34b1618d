"""Every error: one or two lines on stderr, exit 2 (usage) or 1 (failed), ledger unchanged."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest
import typer
from pytest import param

from doe import Campaign
from doe import exceptions as exc
from doe.cli._common import DoeGroup, exit_code_for
from doe.exceptions import StorageBusyError
from tests.doe.cli import (
    GOOD,
    copy_ledger,
    invoke,
    ok,
    seeded_template,
    snapshot,
    sobol_toml,
)

USAGE, FAILED = 2, 1
RECORD_HEAD = "trial,specific_energy_wh_kg [Wh/kg],retention_pct [%],safety_score\n"
KNOBS = (
    "co_precursor_g [g],nitridation_temp_c [C],li2s_loading_mg_cm2 [mg/cm2],"
    "eo_li_ratio,np_ratio"
)
IMPORT_HEAD = f"{KNOBS},specific_energy_wh_kg,retention_pct,safety_score\n"
IMPORT_OK = "0.4,400,1.5,20,1.2,230,66,80\n"


@pytest.fixture(name="template", scope="module")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trials 0-1 recorded, 2 complete, 3 failed, 4 pending, 5 pending claimed by ana."""
    db = seeded_template(tmp_path_factory.mktemp("errors"))
    url = f"sqlite:///{db}"
    ok(url, "suggest", "-n", "3")
    ok(url, "record", "2", *GOOD)
    ok(url, "fail", "3", "--kind", "lost", "--note", "dropped")
    ok(url, "pull", "--operator", "ana")
    ok(url, "suggest")
    ok(url, "pull", "--operator", "ana")
    return db


@pytest.fixture(name="storage")
def fixture_storage(template: Path, tmp_path: Path) -> str:
    """A private copy, for tests that change the storage or patch the API."""
    return copy_ledger(template, tmp_path)


@pytest.fixture(name="shared", scope="module")
def fixture_shared(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[tuple[object, ...]]]:
    """One copy for every error case (each leaves it unchanged) and its snapshot."""
    url = copy_ledger(template, tmp_path_factory.mktemp("shared"))
    return url, snapshot(url, "li2s-si-gpe")


def _check(
    storage: str,
    args: list[str],
    code: int,
    match: str,
    before: list[tuple[object, ...]] | None = None,
) -> str:
    if before is None:
        before = snapshot(storage, "li2s-si-gpe")
    result = invoke(storage, *args)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    err = result.stderr
    assert match in err, err
    assert 1 <= len(err.strip().splitlines()) <= 2, err
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert snapshot(storage, "li2s-si-gpe") == before
    return err


CASES = [
    # ---------------------------------------------------------- usage errors (2)
    param(["record", "4", "retention_pct"], USAGE, "as name=value", id="no-equals"),
    param(
        ["record", "4", *GOOD, "retention=3"],
        USAGE,
        "Did you mean 'retention_pct'",
        id="unknown-outcome",
    ),
    param(
        ["record", "4", "specific_energy_wh_kg=abc", *GOOD[1:]],
        USAGE,
        "got 'abc'",
        id="non-numeric",
    ),
    param(
        ["record", "4", "specific_energy_wh_kg=nan", *GOOD[1:]],
        USAGE,
        "finite",
        id="nan",
    ),
    param(
        ["record", "4", "specific_energy_wh_kg=251", "retention_pct=702", GOOD[2]],
        USAGE,
        "'retention_pct' [%] = 702 is outside its valid range 0 to 110; check it",
        id="out-of-range",
    ),
    param(
        ["record", "4", *GOOD[:2]],
        USAGE,
        "Missing objective(s) 'safety_score'",
        id="missing-objective",
    ),
    param(["record", "4", *GOOD, "safety_score=1"], USAGE, "given twice", id="twice"),
    param(["record", "4"], USAGE, "Give the trial and its outcomes", id="no-values"),
    param(["record"], USAGE, "Give the trial", id="nothing"),
    param(
        ["fail", "4", "--kind", "boom", "--note", "x"],
        USAGE,
        "build_failed, short_circuit, safety_test_failed, lost",
        id="bad-kind",
    ),
    param(["fail", "4", "--kind", "lost"], USAGE, "--note", id="fail-without-note"),
    param(["suggest", "-n", "0"], USAGE, "-n", id="n-zero"),
    param(["suggest", "-n", "65"], USAGE, "-n", id="n-too-big"),
    param(
        ["suggest", "--output", "batch.txt"],
        USAGE,
        "Cannot tell the format",
        id="output-suffix",
    ),
    param(
        ["suggest", "--format", "table", "--output", "b.csv"],
        USAGE,
        "--output writes csv or json",
        id="output-table",
    ),
    param(["suggest", "--strategy", "magic"], USAGE, "magic", id="unknown-strategy"),
    param(["suggest", "--operator", " "], USAGE, "--operator", id="blank-operator"),
    param(
        ["pull", "--lease-hours", "0"],
        USAGE,
        "--lease-hours must be a number > 0",
        id="lease-zero",
    ),
    param(
        ["record", "abc", *GOOD],
        USAGE,
        "Invalid value for 'TRIAL'",
        id="trial-not-a-number",
    ),
    param(["status", "--format", "xml"], USAGE, "xml", id="bad-format"),
    param(
        ["export", "--output", "t.pdf"],
        USAGE,
        "Cannot tell the format",
        id="export-suffix",
    ),
    param(
        ["simulate", "np_ratio=3"],
        USAGE,
        "Knob 'np_ratio' must lie in [0.9, 2.0]",
        id="sim-range",
    ),
    param(
        ["simulate", "np_ratoi=1.2"], USAGE, "Did you mean 'np_ratio'", id="sim-unknown"
    ),
    param(["simulate", "np_ratio=high"], USAGE, "np_ratio", id="sim-non-numeric"),
    param(["simulate", "np_ratio"], USAGE, "as name=value", id="sim-no-equals"),
    param(["simulate", "--c-rate", "9"], USAGE, "c_rate", id="sim-condition"),
    param(["frobnicate"], USAGE, "frobnicate", id="unknown-command"),
    param(
        ["suggest", "--fix", "co_precursor_g=2"],
        USAGE,
        "Fixed parameter 'co_precursor_g' must lie in [0.05, 1] g; got 2",
        id="fix-range",
    ),
    param(
        ["suggest", "--fix", "nitridation_tmp_c=450"],
        USAGE,
        "Did you mean 'nitridation_temp_c'",
        id="fix-unknown",
    ),
    param(["pull", "--fix", "np_ratio"], USAGE, "as name=value", id="fix-no-equals"),
    param(
        ["suggest", "-n", "2", "--shared", "co_precursor_g,np_rato"],
        USAGE,
        "Unknown parameter 'np_rato' to share. Did you mean 'np_ratio'",
        id="shared-unknown",
    ),
    param(
        ["pull", "--fix", "np_ratio=1.2", "--fix", "np_ratio=1.3"],
        USAGE,
        "given twice",
        id="fix-twice",
    ),
    # ------------------------------------------------------ failed operations (1)
    param(["record", "99", *GOOD], FAILED, "has no trial 99", id="unknown-trial"),
    param(
        ["record", "--", "-1", *GOOD], FAILED, "whole numbers >= 0", id="negative-trial"
    ),
    param(["record", "2", *GOOD], FAILED, "already complete", id="already-recorded"),
    param(["record", "3", *GOOD], FAILED, "already failed (lost)", id="already-failed"),
    param(
        ["fail", "2", "--kind", "lost", "--note", "x"],
        FAILED,
        "already complete",
        id="fail-complete",
    ),
    param(["abandon", "3"], FAILED, "already failed", id="abandon-failed"),
    param(
        ["release", "4", "--operator", "ben"],
        FAILED,
        "claimed by 'ana'",
        id="release-others",
    ),
    param(
        ["--campaign", "nope", "status"],
        FAILED,
        "No campaign 'nope'",
        id="unknown-campaign",
    ),
]


@pytest.mark.parametrize(("args", "code", "match"), CASES)
def test_errors_leave_the_ledger_unchanged(
    shared: tuple[str, list[tuple[object, ...]]], args: list[str], code: int, match: str
) -> None:
    _check(shared[0], args, code, match, shared[1])


def test_missing_storage_file_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nothing.db"
    result = invoke(url, "status")
    assert result.exit_code == FAILED
    assert "does not exist" in result.stderr and "doe init" in result.stderr
    assert not (tmp_path / "nothing.db").exists()


def test_ambiguous_campaign(storage: str, tmp_path: Path) -> None:
    ok(storage, "init", str(sobol_toml(tmp_path, name="second")))
    second = snapshot(storage, "second")
    err = _check(storage, ["status"], FAILED, "holds 2 campaigns")
    assert "--campaign" in err
    assert snapshot(storage, "second") == second


@pytest.mark.parametrize(
    ("text", "match"),
    [
        param("name = [", "not valid TOML", id="bad-toml"),
        param('name = "x"\ncolour = 1\n', "Unknown key 'colour'", id="unknown-key"),
        param(None, "does not exist", id="missing-file"),
    ],
)
def test_init_definition_errors(
    shared: tuple[str, list[tuple[object, ...]]],
    tmp_path: Path,
    text: str | None,
    match: str,
) -> None:
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    _check(shared[0], ["init", str(path)], USAGE, match, shared[1])


def test_init_existing_campaign(
    shared: tuple[str, list[tuple[object, ...]]], tmp_path: Path
) -> None:
    args = ["init", str(sobol_toml(tmp_path))]
    _check(shared[0], args, FAILED, "already exists", shared[1])


RECORD_FILES = [
    param(
        "trial,specific_energy_wh_kg [kWh/kg],retention_pct,safety_score\n4,0.25,70,84\n",
        USAGE,
        "Column 'specific_energy_wh_kg [kWh/kg]' of {file} is in 'kWh/kg', but campaign "
        "'li2s-si-gpe' records 'specific_energy_wh_kg' in 'Wh/kg'",
        id="wrong-unit",
    ),
    param(
        RECORD_HEAD.replace("safety_score", "safety") + "4,250,70,84\n",
        USAGE,
        "Did you mean 'safety_score'",
        id="unknown-column",
    ),
    param(
        RECORD_HEAD + "4,250,70,84\n5,251,seventy,84\n",
        USAGE,
        "'retention_pct' in {file} row 3",
        id="non-numeric-row-3",
    ),
    param(RECORD_HEAD + "4,250,70,84\n5,251,inf,84\n", USAGE, "row 3", id="infinite"),
    param(
        RECORD_HEAD + "4,250,70,84\n5,251,70,\n",
        USAGE,
        "Missing objective(s) 'safety_score' in {file} row 3",
        id="empty-objective",
    ),
    param(
        RECORD_HEAD + "4,250,70,84\n4,251,70,80\n",
        USAGE,
        "appears twice in {file} (rows 2 and 3)",
        id="duplicate-trial",
    ),
    param(
        RECORD_HEAD + "4,250,70,84\nfour,251,70,80\n",
        USAGE,
        "Column 'trial' in {file} row 3",
        id="bad-trial",
    ),
    param(
        "specific_energy_wh_kg,retention_pct,safety_score\n250,70,84\n",
        USAGE,
        "lacks the column(s) 'trial'",
        id="no-trial-column",
    ),
    param(RECORD_HEAD, USAGE, "no data rows", id="header-only"),
    param(
        RECORD_HEAD + "4,250,70,84\n99,251,70,80\n",
        FAILED,
        "Column 'trial' in {file} row 3: Campaign 'li2s-si-gpe' has no trial 99",
        id="unknown-trial-row",
    ),
    param(
        RECORD_HEAD + "4,250,70,84\n\n2,251,70,80\n",
        FAILED,
        "Trial 2 in {file} row 4 is already complete",
        id="recorded-row",
    ),
]


@pytest.mark.parametrize(("content", "code", "match"), RECORD_FILES)
def test_record_file_errors_write_nothing(
    shared: tuple[str, list[tuple[object, ...]]],
    tmp_path: Path,
    content: str,
    code: int,
    match: str,
) -> None:
    path = tmp_path / "results.csv"
    path.write_text(content, encoding="utf-8")
    args = ["record", "--file", str(path)]
    _check(shared[0], args, code, match.format(file=path), shared[1])


def test_record_file_and_trial_together(
    shared: tuple[str, list[tuple[object, ...]]],
) -> None:
    args = ["record", "4", "--file", "x.csv"]
    _check(shared[0], args, USAGE, "not both", shared[1])


@pytest.mark.parametrize(
    ("name", "match"),
    [
        param("missing.csv", "does not exist", id="missing"),
        param("results.ods", "use a .csv or .xlsx file", id="suffix"),
        param("broken.xlsx", "not a readable .xlsx workbook", id="broken-xlsx"),
    ],
)
def test_unreadable_files(
    shared: tuple[str, list[tuple[object, ...]]], tmp_path: Path, name: str, match: str
) -> None:
    path = tmp_path / name
    if name != "missing.csv":
        path.write_text("not a workbook", encoding="utf-8")
    _check(shared[0], ["record", "--file", str(path)], USAGE, match, shared[1])


IMPORT_FILES = [
    param(
        IMPORT_HEAD.replace("np_ratio", "np_ratio [mol/mol]") + IMPORT_OK,
        "Column 'np_ratio [mol/mol]' of {file} is in 'mol/mol', but campaign "
        "'li2s-si-gpe' records 'np_ratio' in '-'",
        id="wrong-unit",
    ),
    param(
        IMPORT_HEAD.replace("eo_li_ratio", "eo_li") + IMPORT_OK,
        "Did you mean 'eo_li_ratio'",
        id="unknown-knob",
    ),
    param(
        IMPORT_HEAD.replace("np_ratio,", "") + "0.4,400,1.5,20,230,66,80\n",
        "lacks the column(s) 'np_ratio'",
        id="missing-knob-column",
    ),
    param(
        IMPORT_HEAD + IMPORT_OK + "0.4,400,12,20,1.2,230,66,80\n",
        "Parameter 'li2s_loading_mg_cm2' in {file} row 3 must lie in [0.5, 8] mg/cm2",
        id="out-of-range",
    ),
    param(
        IMPORT_HEAD + IMPORT_OK + "0.4,400,1.5,20,1.2,230,66,800\n",
        "Outcome 'safety_score' in {file} row 3 [0-100] = 800 is outside its valid "
        "range 0 to 100",
        id="outcome-out-of-range",
    ),
    param(
        IMPORT_HEAD + IMPORT_OK + "0.4,hot,1.5,20,1.2,230,66,80\n",
        "Parameter 'nitridation_temp_c' in {file} row 3 must be a number",
        id="non-numeric",
    ),
    param(
        IMPORT_HEAD + IMPORT_OK + "0.4,,1.5,20,1.2,230,66,80\n",
        "Missing value for parameter(s) 'nitridation_temp_c' in {file} row 3",
        id="empty-knob",
    ),
    param(
        IMPORT_HEAD.strip() + ",failure_kind\n" + IMPORT_OK.strip() + ",\n"
        "0.4,400,1.5,20,1.2,,,,melted\n",
        "Failure kind 'melted' in {file} row 3 is unknown",
        id="unknown-failure-kind",
    ),
    param(
        IMPORT_HEAD + IMPORT_OK + "0.4,400,1.5,20,1.2,230,66\n",
        "Missing objective(s) 'safety_score' in {file} row 3",
        id="short-row",
    ),
]


@pytest.mark.parametrize(("content", "match"), IMPORT_FILES)
def test_import_errors_write_nothing(
    shared: tuple[str, list[tuple[object, ...]]],
    tmp_path: Path,
    content: str,
    match: str,
) -> None:
    path = tmp_path / "cells.csv"
    path.write_text(content, encoding="utf-8")
    _check(shared[0], ["import", str(path)], USAGE, match.format(file=path), shared[1])


def test_storage_busy_is_a_failed_operation(
    storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise StorageBusyError("The ledger is locked; nothing was written. Try again.")

    monkeypatch.setattr(Campaign, "record", busy)
    _check(storage, ["record", "4", *GOOD], FAILED, "ledger is locked")


def test_internal_error_hint_and_debug_traceback(
    storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(Campaign, "abandon", broken)
    err = _check(storage, ["abandon", "4"], FAILED, "internal error: KeyError: 'oops'")
    assert "--debug" in err
    result = invoke(storage, "--debug", "abandon", "4")
    assert result.exit_code == FAILED
    assert "Traceback" in result.stderr and "internal error" in result.stderr
    result = invoke(storage, "--debug", "record", "99", *GOOD)
    assert result.exit_code == FAILED
    assert "Traceback" in result.stderr and "UnknownTrialError" in result.stderr


def test_xlsx_errors_name_the_spreadsheet_row(
    shared: tuple[str, list[tuple[object, ...]]], tmp_path: Path
) -> None:
    import pandas as pd

    path = tmp_path / "results.xlsx"
    pd.DataFrame(
        {
            "trial": [4, 5],
            "specific_energy_wh_kg [Wh/kg]": [250.0, 251.0],
            "retention_pct [%]": [70.0, "n/a"],
            "safety_score": [84.0, 80.0],
        }
    ).to_excel(path, index=False)
    match = f"Outcome 'retention_pct' in {path} row 3 [%] must be a number; got 'n/a'"
    _check(shared[0], ["record", "--file", str(path)], USAGE, match, shared[1])


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (exc.DefinitionError, USAGE),
        (exc.IncompatibleDefinitionError, USAGE),
        (exc.InvalidSettingsError, USAGE),
        (exc.InvalidMeasurementError, USAGE),
        (exc.UnknownStrategyError, USAGE),
        (exc.UnknownCampaignError, FAILED),
        (exc.AmbiguousCampaignError, FAILED),
        (exc.CampaignExistsError, FAILED),
        (exc.UnknownTrialError, FAILED),
        (exc.TrialStateError, FAILED),
        (exc.StorageError, FAILED),
        (exc.StorageBusyError, FAILED),
        (exc.TrackingError, FAILED),
        (exc.DoeError, FAILED),
        (RuntimeError, FAILED),
    ],
)
def test_exit_code_map(error: type[Exception], code: int) -> None:
    assert exit_code_for(error("x")) == code


def test_a_reader_that_goes_away_is_not_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `doe suggest --help | head -30`: head exits, and the rest of the help
    # fails to write. That used to end in "internal error: BrokenPipeError";
    # it now exits 1 quietly, as click does.
    cli = typer.Typer(cls=DoeGroup)

    @cli.command()
    def show() -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    @cli.command()
    def other() -> None:
        """A second command, so that `show` is a subcommand as in `doe`."""

    # click swaps in flush-pacifying wrappers; put the captured streams back
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    with pytest.raises(SystemExit) as ended:
        cli(["show"], prog_name="doe")
    assert ended.value.code == FAILED
    assert capsys.readouterr().err == ""
