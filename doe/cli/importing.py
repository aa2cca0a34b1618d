"""``doe import``: add recorded experiments that were never suggested."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from doe.cli._common import note, resolve_operator, state_of
from doe.exceptions import InvalidSettingsError

if TYPE_CHECKING:
    from doe.campaign import Campaign
    from doe.cli._tables import Sheet

app = typer.Typer()

_EXTRA_COLUMNS = ("failure_kind", "note")


@app.command(
    "import",
    epilog="Example\n\n  doe import campaigns/li2s_si/recorded.csv\n\n"
    "  doe import lab_notebook.xlsx --operator ana",
)
def import_(
    ctx: typer.Context,
    *,
    file: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="A .csv or .xlsx file: a column per knob, outcome columns, optional "
        "'failure_kind' and 'note'. Headers may carry units: 'np_ratio [-]'.",
    ),
    operator: str | None = typer.Option(
        None, "--operator", help="Who measured them (default: the OS user)."
    ),
) -> None:
    """Add measured experiments that were never suggested (e.g. earlier cells).

    A row with a failure_kind is stored as a failed experiment (its outcome cells
    are not stored). The file is checked whole first: knob and outcome names,
    units, ranges and numbers; then every row is added, or none.
    """
    who = resolve_operator(operator)
    campaign = state_of(ctx).load()
    numbers = import_file(campaign, file, operator=who)
    span = f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"
    note(
        f"Imported {len(numbers)} experiment(s) from {file} into campaign "
        f"{campaign.name!r} as trial(s) {span}.",
        style="green",
    )


def import_file(campaign: Campaign, path: Path, *, operator: str) -> list[int]:
    """Check a file of recorded experiments, then add every row.

    Returns:
        The new trial numbers, in file order.

    Raises:
        DoeError: Naming the file, the row and the column; nothing was written.
    """
    from doe.cli._tables import read_sheet

    sheet = read_sheet(path)
    d = campaign.definition
    units = {p.name: p.unit for p in d.space.parameters}
    units.update({n: d.outcome_unit(n) for n in d.outcome_names})
    sheet.check_columns(
        campaign=campaign.name,
        known=[*d.space.names, *d.outcome_names, *_EXTRA_COLUMNS],
        units=units,
        error=InvalidSettingsError,
    )
    sheet.require(
        d.space.names, what="every knob needs a column", error=InvalidSettingsError
    )
    return campaign.add_many(
        _rows(campaign, sheet), source="recorded", operator=operator
    )


def _rows(campaign: Campaign, sheet: Sheet) -> list[dict[str, Any]]:
    from doe.cli._tables import is_missing

    d = campaign.definition
    knobs = d.space.names
    outcome_cols = [n for n in sheet.names if n in d.outcome_names]
    rows = []
    for row, cells in sheet.rows:
        kind = cells.get("failure_kind")
        text = cells.get("note")
        rows.append(
            {
                "settings": {k: cells[k] for k in knobs if not is_missing(cells[k])},
                "outcomes": {
                    c: cells[c] for c in outcome_cols if not is_missing(cells[c])
                },
                "failure_kind": None if is_missing(kind) else str(kind).strip(),
                "note": None if is_missing(text) else str(text),
                "where": sheet.where(row),
            }
        )
    return rows
