"""``doe predict``: what the model expects of settings before the lab tries them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from doe.cli._common import (
    CliUsageError,
    TableFormat,
    add_trial_columns,
    fmt_mean_std,
    fmt_value,
    out_console,
    parse_assignments,
    spinner,
    state_of,
    write_json,
)
from doe.exceptions import InvalidSettingsError

if TYPE_CHECKING:
    import pandas as pd

    from doe.campaign import Campaign

app = typer.Typer()

LABEL = "label"


@app.command(
    "predict",
    epilog="Example\n\n  doe predict co_precursor_g=0.4 nitridation_temp_c=450 "
    "li2s_loading_mg_cm2=2.5 eo_li_ratio=16 np_ratio=1.2\n\n"
    "  doe predict --file recipes.csv --format json",
)
def predict(
    ctx: typer.Context,
    *,
    values: list[str] | None = typer.Argument(
        None,
        metavar="NAME=VALUE",
        help="One setting: every knob as name=value, in the campaign's units.",
    ),
    file: Path | None = typer.Option(
        None,
        "--file",
        help="Many settings: a .csv or .xlsx file with a column per knob (headers "
        "may carry units: 'np_ratio [-]') and an optional 'label' column.",
    ),
    format_: TableFormat = typer.Option(
        TableFormat.table, "--format", "-f", help="table or json (on stdout)."
    ),
) -> None:
    """What the model expects of settings before the lab tries them.

    For each setting: the gp model's estimate of every objective (the expected
    outcome ± its uncertainty; one measurement scatters more), the chance that
    the expected outcomes meet every limit, the closest measured experiment (far
    from every measurement the model mostly repeats the lab's expectation), and
    a measured experiment the model expects to be at least as good in every
    objective, if there is one. Writes nothing.
    """
    if bool(values) == (file is not None):
        raise CliUsageError(
            "Give one setting as NAME=VALUE words or a file with --file; not "
            + ("both." if values else "neither.")
        )
    campaign = state_of(ctx).load()
    settings, labels = (
        _from_file(campaign, file) if file is not None else _from_words(values or [])
    )
    with spinner("fitting the model ..."):
        frame = campaign.predict(settings)
    if labels is not None:
        frame.insert(0, LABEL, labels)
    if format_ is TableFormat.json:
        write_json({"campaign": campaign.name, "predictions": _records(frame)})
    else:
        _print(campaign, frame, n_measured=campaign.counts().get("complete", 0))


def _from_words(words: list[str]) -> tuple[list[dict[str, Any]], None]:
    given = parse_assignments(words, what="knob", example="np_ratio=1.2")
    return [dict(given)], None


def _from_file(
    campaign: Campaign, path: Path
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The file's settings, each row checked (naming the file and row)."""
    from doe.cli._tables import is_missing, read_sheet

    sheet = read_sheet(path)
    d = campaign.definition
    sheet.check_columns(
        campaign=campaign.name,
        known=[*d.space.names, LABEL],
        units={p.name: p.unit for p in d.space.parameters},
        error=InvalidSettingsError,
    )
    sheet.require(
        d.space.names, what="every knob needs a column", error=InvalidSettingsError
    )
    if not sheet.rows:
        raise CliUsageError(f"{path} has no data rows; add one setting per row.")
    settings = []
    for row, cells in sheet.rows:
        given = {k: cells[k] for k in d.space.names if not is_missing(cells[k])}
        settings.append(d.space.validate(given, where=sheet.where(row)))
    labels = None
    if LABEL in sheet.names:
        labels = [
            "" if is_missing(cells.get(LABEL)) else str(cells[LABEL]).strip()
            for _, cells in sheet.rows
        ]
    return settings, labels


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def _print(campaign: Campaign, frame: pd.DataFrame, *, n_measured: int) -> None:
    d = campaign.definition
    objectives = [o.name for o in d.objectives]
    table = Table(
        title=f"What the model expects ({campaign.name}, fitted on {n_measured} "
        "measured experiments)",
        title_justify="left",
        caption="estimate ± sd of the expected outcome (one measurement scatters "
        "more); nearest: the closest measured experiment, distance 0-1 over the "
        "knobs' ranges",
        caption_justify="left",
    )
    add_trial_columns(table, d, objectives)
    table.columns[0].header = LABEL if LABEL in frame.columns else "#"
    if d.limits:
        table.add_column("P(limits met)", justify="right")
    table.add_column("nearest (distance)", justify="right")
    table.add_column("model expects better", justify="right")
    for i, row in enumerate(frame.to_dict(orient="records")):
        cells = [str(row[LABEL]) if LABEL in row else str(i + 1)]
        cells += [fmt_value(row[p]) for p in d.space.names]
        cells += [
            fmt_mean_std(row[f"est_{o}"], row[f"est_{o}_std"]) for o in objectives
        ]
        if d.limits:
            cells.append(f"{100 * row['p_limits']:.0f}%")
        cells.append(
            f"#{row['nearest_trial']:.0f} ({row['nearest_distance']:.2f})"
            if "nearest_trial" in row
            else "-"
        )
        better = row["dominated_by"]
        cells.append("-" if better is None else f"#{better}")
        table.add_row(*cells)
    out_console().print(table)
