"""``doe record`` (measured outcomes), ``doe fail`` and ``doe abandon``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from doe.cli._common import (
    CliUsageError,
    fmt_value,
    note,
    parse_assignments,
    resolve_operator,
    state_of,
    with_unit,
)
from doe.exceptions import (
    InvalidMeasurementError,
    TrialStateError,
    UnknownTrialError,
)

if TYPE_CHECKING:
    from doe.campaign import Campaign
    from doe.cli._tables import Sheet

app = typer.Typer()

_EXTRA_COLUMNS = ("trial", "note")


@dataclass(frozen=True)
class _Planned:
    """One checked row of a results file, ready to write."""

    trial: int
    outcomes: dict[str, float]
    note: str | None


@app.command(
    "record",
    epilog="Example\n\n"
    "  doe record 3 specific_energy_wh_kg=251 retention_pct=70.2 safety_score=84\n\n"
    "  doe record --file results.csv\n\n"
    "  doe record --file results.xlsx --operator ana",
)
def record(
    ctx: typer.Context,
    *,
    trial: int | None = typer.Argument(None, metavar="TRIAL", help="The trial number."),
    values: list[str] | None = typer.Argument(
        None,
        metavar="NAME=VALUE",
        help="Measured outcomes as name=value, every objective included.",
    ),
    file: Path | None = typer.Option(
        None,
        "--file",
        help="A .csv or .xlsx file: a 'trial' column and outcome columns "
        "(headers may carry units, 'retention_pct [%]'), optional 'note'.",
    ),
    operator: str | None = typer.Option(
        None, "--operator", help="Who measured it (default: the OS user)."
    ),
    note_: str | None = typer.Option(None, "--note", help="Free text."),
) -> None:
    """Record the measured outcomes of pending trials.

    Either one trial with name=value pairs, or a whole file. A file is checked
    whole before anything is written: every row's trial exists and is pending,
    values are finite numbers, outcome names and units are the campaign's, and
    every objective is present. Then all rows are recorded, or none.
    """
    who = resolve_operator(operator)
    if file is not None:
        if trial is not None or values or note_:
            raise CliUsageError(
                "Give either --file FILE or TRIAL name=value ..., not both "
                "(a file carries its own 'note' column)."
            )
        campaign = state_of(ctx).load()
        done = record_file(campaign, file, operator=who)
        note(
            f"Recorded {len(done)} trial(s) of campaign {campaign.name!r} from {file}: "
            f"{', '.join(map(str, done))}.",
            style="green",
        )
        return
    if trial is None or not values:
        raise CliUsageError(
            "Give the trial and its outcomes, e.g. `doe record 3 retention_pct=70.2 "
            "...`, or --file results.csv."
        )
    outcomes = parse_assignments(values, what="outcome", example="retention_pct=70.2")
    campaign = state_of(ctx).load()
    rec = campaign.record(trial, outcomes, operator=who, note=note_)
    d = campaign.definition
    shown = ", ".join(
        f"{k} = {with_unit(fmt_value(v), d.outcome_unit(k))}"
        for k, v in rec.outcomes.items()
    )
    note(
        f"Recorded trial {trial} of campaign {campaign.name!r}: {shown}.", style="green"
    )


def record_file(campaign: Campaign, path: Path, *, operator: str) -> list[int]:
    """Check every row of a results file, then record them all.

    Returns:
        The recorded trial numbers, in file order.

    Raises:
        DoeError: Naming the file, the row and the column; nothing was written.
    """
    from doe.cli._tables import read_sheet

    sheet = read_sheet(path)
    d = campaign.definition
    sheet.check_columns(
        campaign=campaign.name,
        known=[*_EXTRA_COLUMNS, *d.outcome_names],
        units={n: d.outcome_unit(n) for n in d.outcome_names},
        error=InvalidMeasurementError,
    )
    sheet.require(
        ["trial"], what="it names the trial of each row", error=InvalidMeasurementError
    )
    planned = _check_rows(campaign, sheet)
    rows = [
        {"trial_id": p.trial, "outcomes": p.outcomes, "note": p.note} for p in planned
    ]
    # checked again and written under one campaign lock: all rows or none
    campaign.record_many(rows, operator=operator)
    return [p.trial for p in planned]


def _check_rows(campaign: Campaign, sheet: Sheet) -> list[_Planned]:
    from doe.cli._tables import is_missing

    outcome_cols = [n for n in sheet.names if n not in _EXTRA_COLUMNS]
    planned: list[_Planned] = []
    rows_of: dict[int, int] = {}
    for row, cells in sheet.rows:
        where = sheet.where(row)
        trial = _trial_number(cells.get("trial"), where)
        if trial in rows_of:
            raise InvalidMeasurementError(
                f"Trial {trial} appears twice in {sheet.label} (rows {rows_of[trial]} "
                f"and {row}); record each trial once."
            )
        rows_of[trial] = row
        _check_pending(campaign, trial, where)
        outcomes = {c: cells[c] for c in outcome_cols if not is_missing(cells.get(c))}
        values = campaign.validate_outcomes(outcomes, where=where)
        text = cells.get("note")
        planned.append(_Planned(trial, values, None if is_missing(text) else str(text)))
    return planned


def _trial_number(value: Any, where: str) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer() or number < 0:
        raise InvalidMeasurementError(
            f"Column 'trial'{where} must hold a trial number (a whole number >= 0); "
            f"got {value!r}."
        )
    return int(number)


def _check_pending(campaign: Campaign, trial: int, where: str) -> None:
    try:
        rec = campaign.trial(trial)
    except UnknownTrialError as exc:
        raise UnknownTrialError(f"Column 'trial'{where}: {exc}") from exc
    if rec.state != "pending":
        kind = f" ({rec.failure_kind})" if rec.failure_kind else ""
        raise TrialStateError(
            f"Trial {trial}{where} is already {rec.state}{kind}; only pending trials "
            "can be recorded. Remove the row (nothing was written)."
        )


@app.command(
    "correct",
    epilog="Example\n\n"
    '  doe correct 12 retention_pct=70.2 --note "typo: read 72.0 off the cycler log"',
)
def correct(
    ctx: typer.Context,
    *,
    trial: int = typer.Argument(..., metavar="TRIAL", help="A recorded trial."),
    values: list[str] = typer.Argument(
        ...,
        metavar="NAME=VALUE",
        help="The corrected outcomes as name=value; the others stay as recorded.",
    ),
    note_: str = typer.Option(..., "--note", help="Why it is corrected (kept)."),
    operator: str | None = typer.Option(
        None, "--operator", help="Who corrects it (default: the OS user)."
    ),
) -> None:
    """Correct a recorded result (a typo found later); the old values are kept.

    The trial's history keeps every correction with the values it replaced, who
    made it, when and why; tables, fronts, models and MLflow use the corrected
    values from then on.
    """
    who = resolve_operator(operator)
    outcomes = parse_assignments(values, what="outcome", example="retention_pct=70.2")
    campaign = state_of(ctx).load()
    before = campaign.trial(trial).outcomes
    rec = campaign.correct(trial, outcomes, note=note_, operator=who)
    d = campaign.definition
    changed = [
        f"{k} {fmt_value(before.get(k))} -> "
        f"{with_unit(fmt_value(v), d.outcome_unit(k))}"
        for k, v in rec.outcomes.items()
        if before.get(k) != v
    ]
    if not changed:
        note(f"Trial {trial} already holds these values; nothing changed.")
        return
    note(
        f"Corrected trial {trial} of campaign {campaign.name!r}: {', '.join(changed)}.",
        style="green",
    )


@app.command(
    "fail",
    epilog="Example\n\n"
    '  doe fail 7 --kind short_circuit --note "shorted during formation"\n\n'
    '  doe fail 9 --kind build_failed --note "cathode cracked when calendered"',
)
def fail(
    ctx: typer.Context,
    *,
    trial: int = typer.Argument(..., metavar="TRIAL", help="The trial number."),
    kind: str = typer.Option(
        ...,
        "--kind",
        help="build_failed, short_circuit, safety_test_failed or lost.",
    ),
    note_: str = typer.Option(..., "--note", help="What happened."),
    operator: str | None = typer.Option(
        None, "--operator", help="Who reports it (default: the OS user)."
    ),
) -> None:
    """Mark a pending trial as failed (the cell could not be built or tested)."""
    from doe.ledger import FAILURE_KINDS

    if kind not in FAILURE_KINDS:
        raise CliUsageError(
            f"--kind {kind!r} is not a failure kind; choose one of: "
            f"{', '.join(FAILURE_KINDS)}."
        )
    who = resolve_operator(operator)
    campaign = state_of(ctx).load()
    campaign.fail(trial, kind, note_, operator=who)
    note(f"Trial {trial} of campaign {campaign.name!r} failed: {kind}.", style="yellow")


@app.command(
    "abandon",
    epilog='Example\n\n  doe abandon 5 --note "precursor batch ran out"',
)
def abandon(
    ctx: typer.Context,
    *,
    trial: int = typer.Argument(..., metavar="TRIAL", help="The trial number."),
    note_: str = typer.Option("", "--note", help="Why it is withdrawn."),
    operator: str | None = typer.Option(
        None, "--operator", help="Who withdraws it (default: the OS user)."
    ),
) -> None:
    """Withdraw a suggestion nobody will run (not a failure of the cell).

    Unclaimed suggestions older than the campaign's suggestion_ttl_days are
    withdrawn automatically by the next suggest or pull.
    """
    who = resolve_operator(operator)
    campaign = state_of(ctx).load()
    campaign.abandon(trial, note=note_, operator=who)
    note(f"Abandoned trial {trial} of campaign {campaign.name!r}.")
