"""``doe status``, ``doe report`` and ``doe export``: a campaign's progress and data.

``status`` prints counts, Pareto fronts, hypervolume and model fit; ``report``
writes the same as one HTML file; ``export`` writes every trial.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from doe.cli._common import (
    CliUsageError,
    TableFormat,
    add_trial_columns,
    fmt_mean_std,
    fmt_value,
    note,
    out_console,
    spinner,
    state_of,
    write_json,
)

if TYPE_CHECKING:
    from doe.campaign import Campaign

app = typer.Typer()


@app.command(
    "status",
    epilog="Example\n\n  doe status\n\n  doe status --format json --no-model",
)
def status(
    ctx: typer.Context,
    *,
    format_: TableFormat = typer.Option(
        TableFormat.table, "--format", "-f", help="table or json (on stdout)."
    ),
    model: bool = typer.Option(
        True,
        "--model/--no-model",
        help="Fit the model: its Pareto front of the measured cells, and its "
        "leave-one-out quality (fits a GP per outcome).",
    ),
) -> None:
    """Show progress: trials by state, Pareto front, hypervolume, model quality.

    The Pareto front counts only measured trials that meet every limit; the
    front by the model's estimate ranks the same trials by their expected
    outcomes (the measurement scatter smoothed out), so a lucky measurement does
    not put a cell on it; the hypervolume after each suggestion round is
    measured above the objectives' thresholds; the model's leave-one-out R², 95%
    coverage and RMSE per outcome say how far its predictions can be trusted.
    """
    campaign = state_of(ctx).load()
    from doe.report import campaign_report

    report = campaign_report(campaign, model=model, step=spinner)
    if format_ is TableFormat.json:
        write_json(report)
    else:
        _print_report(campaign, report)


def _print_report(campaign: Campaign, report: dict[str, Any]) -> None:
    console = out_console()
    counts = report["counts"]
    total = sum(counts.values())
    parts = ", ".join(f"{v} {k}" for k, v in counts.items())
    console.print(
        Text.assemble(
            (f"Campaign {report['campaign']}", "bold"), f": {total} trials ({parts})"
        )
    )
    console.print(Text(f"Storage: {report['storage']}", style="dim"))
    if report["definition_changes"]:
        last = report["definition_changes"][-1]
        fields = ", ".join(c[0] for c in last["changes"])
        console.print(
            Text(
                f"Definition updated {len(report['definition_changes'])} time(s); "
                f"last {last['at'][:16].replace('T', ' ')} UTC by {last['by']}"
                + (f" ({last['note']})" if last["note"] else "")
                + f": {fields}.",
                style="dim",
            )
        )
    if report["pending"]:
        console.print(_pending_table(report["pending"]))
    console.print(_pareto_table(campaign, report))
    if report["model_pareto"]:
        console.print(_model_pareto_table(campaign, report))
    console.print(_hypervolume_table(campaign, report))
    if report["model_quality"]:
        console.print(_quality_table(campaign, report))
    else:
        console.print(Text(f"Model quality: {report['model_quality_note']}"))


def _pending_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Pending", title_justify="left")
    cols = ("trial", "round", "asked by", "claimed by", "claimed until", "held fixed")
    for col in cols:
        table.add_column(col)
    for r in rows:
        until = (r["claim_until"] or "")[:16].replace("T", " ")
        held = ", ".join(f"{k}={fmt_value(v)}" for k, v in r["fixed"].items())
        table.add_row(
            str(r["trial"]),
            fmt_value(r["round"]),
            r["asked_by"] or "-",
            r["claimed_by"] or "-",
            until or "-",
            held or "-",
        )
    return table


def _front_table(campaign: Campaign, title: str) -> tuple[Table, list[str]]:
    """An empty table for front rows, and the outcomes it shows.

    Its columns: trial, every knob, the objectives and the limited outcomes.
    """
    d = campaign.definition
    shown = [o.name for o in d.objectives]
    shown += [lim.name for lim in d.limits if lim.name not in shown]
    table = Table(title=title, title_justify="left")
    add_trial_columns(table, d, shown)
    return table, shown


def _pareto_table(campaign: Campaign, report: dict[str, Any]) -> Table:
    d = campaign.definition
    table, shown = _front_table(
        campaign,
        f"Pareto front ({len(report['pareto'])} trials, meeting every limit)",
    )
    for r in report["pareto"]:
        table.add_row(
            str(r["trial"]),
            *(fmt_value(r["settings"][p]) for p in d.space.names),
            *(fmt_value(r["outcomes"].get(n)) for n in shown),
        )
    if not report["pareto"]:
        table.caption = "no complete trial meets the limits yet"
    return table


def _model_pareto_table(campaign: Campaign, report: dict[str, Any]) -> Table:
    d = campaign.definition
    rows = report["model_pareto"]
    table, shown = _front_table(
        campaign,
        f"Pareto front by the model's estimate ({len(rows)} trials; "
        "measurement scatter smoothed out)",
    )
    for r in rows:
        cells = []
        for n in shown:
            mean, sd = r["estimate"][n]
            measured = r["outcomes"].get(n)
            cells.append(
                fmt_mean_std(mean, sd)
                + ("" if measured is None else f" ({fmt_value(measured)})")
            )
        table.add_row(
            str(r["trial"]),
            *(fmt_value(r["settings"][p]) for p in d.space.names),
            *cells,
        )
    table.caption = (
        "estimate ± sd of each cell's expected outcome (measured in brackets); "
        "limits checked on the estimate, so one lucky or unlucky measurement does "
        "not decide a cell's place."
    )
    return table


def _hypervolume_table(campaign: Campaign, report: dict[str, Any]) -> Group:
    d = campaign.definition
    ref = ", ".join(
        f"{name} {fmt_value(v)} [{d.outcome_unit(name)}]"
        for name, v in report["reference_point"].items()
    )
    table = Table()
    for col in ("round", "complete", "meet limits", "hypervolume"):
        table.add_column(col, justify="right")
    for r in report["hypervolume_by_round"]:
        label = "0 (recorded)" if r["round"] == 0 else str(r["round"])
        table.add_row(
            label,
            str(r["n_complete"]),
            str(r["n_feasible"]),
            fmt_value(r["hypervolume"], 5),
        )
    title = Text(f"Hypervolume by round (reference point: {ref})", style="italic")
    return Group(title, table)


def _quality_table(campaign: Campaign, report: dict[str, Any]) -> Table:
    d = campaign.definition
    table = Table(title="Model quality (leave-one-out)", title_justify="left")
    quality = report["model_quality"] or {}
    weighted = any(q.get("prior_weight") is not None for q in quality.values())
    columns = ["outcome", "n", "R²", "95% coverage", "RMSE"]
    if weighted:  # how much the data trust the lab's expectation ([gp] prior)
        columns.append("prior weight")
    for col in columns:
        table.add_column(col, justify="left" if col == "outcome" else "right")
    for name, q in quality.items():
        unit = d.outcome_unit(name)
        coverage = q.get("coverage_95")
        row = [
            name,
            fmt_value(q.get("n")),
            fmt_value(q.get("r2"), 3),
            "-" if coverage is None else f"{100 * float(coverage):.0f}%",
            f"{fmt_value(q.get('rmse'), 3)} {unit}",
        ]
        if weighted:
            row.append(fmt_value(q.get("prior_weight"), 2))
        table.add_row(*row)
    if weighted:
        table.caption = (
            "prior weight: the fitted weight of the campaign's expectation ([gp] "
            "prior); about 1: the data agree with it, about 0: they ignore it."
        )
    return table


@app.command(
    "report",
    epilog="Example\n\n  doe report\n\n  doe report --out weekly.html --no-model",
)
def report(
    ctx: typer.Context,
    *,
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="The HTML file to write (default: CAMPAIGN-report-YYYYMMDD.html here).",
    ),
    model: bool = typer.Option(
        True,
        "--model/--no-model",
        help="Fit the model: its front of the measured cells and its leave-one-out "
        "quality (fits a GP per outcome).",
    ),
) -> None:
    """Write the campaign's progress as one HTML file, for a meeting or a notebook.

    Counts, the best measured cell for each objective, the Pareto front with
    units, the hypervolume after each round, the plots (embedded), the model's
    quality, pending, failed and corrected experiments and the definition with
    its updates. Self-contained: it opens in any browser and can be mailed.
    """
    from datetime import UTC, datetime

    from doe.report import report_html

    campaign = state_of(ctx).load()
    now = datetime.now(UTC)
    path = out or Path(f"{campaign.name}-report-{now:%Y%m%d}.html")
    if path.is_dir():
        raise CliUsageError(f"--out {str(path)!r} is a folder; name an .html file.")
    if not path.parent.is_dir():
        raise CliUsageError(
            f"--out {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    text = report_html(campaign, model=model, step=spinner, now=now)
    path.write_text(text, encoding="utf-8")
    note(
        f"Wrote the report of campaign {campaign.name!r} to {path} "
        f"({len(text.encode()) // 1024} KB); open it in a browser.",
        style="green",
    )


class ExportFormat(StrEnum):
    """Export file formats."""

    csv = "csv"
    xlsx = "xlsx"


@app.command(
    "export",
    epilog="Example\n\n  doe export --format xlsx --output trials.xlsx\n\n"
    "  doe export --format csv > trials.csv",
)
def export(
    ctx: typer.Context,
    *,
    format_: ExportFormat | None = typer.Option(
        None,
        "--format",
        "-f",
        help="csv or xlsx (default: the --output suffix, else csv).",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="The file to write (default: csv on stdout, xlsx to CAMPAIGN-trials.xlsx).",
    ),
) -> None:
    """Write every trial with its provenance as CSV or Excel.

    One row per trial: state, source, round, settings, outcomes, predictions,
    strategy and reason, model version, data hash, operators and times. Headers
    carry units.
    """
    fmt = _export_format(format_, output)
    campaign = state_of(ctx).load()
    table = _with_units(campaign, campaign.table())
    if fmt is ExportFormat.csv and output is None:
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
        return
    path = output or Path(f"{campaign.name}-trials.{fmt.value}")
    if fmt is ExportFormat.csv:
        table.to_csv(path, index=False, lineterminator="\n")
    else:
        table.to_excel(path, index=False, sheet_name="trials")
    note(f"Wrote {len(table)} trial(s) of campaign {campaign.name!r} to {path}.")


def _export_format(format_: ExportFormat | None, output: Path | None) -> ExportFormat:
    if format_ is not None:
        return format_
    if output is None:
        return ExportFormat.csv
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in ("csv", "xlsx"):
        raise CliUsageError(
            f"Cannot tell the format of --output {str(output)!r}; name a .csv or .xlsx "
            "file or pass --format csv|xlsx."
        )
    return ExportFormat(suffix)


def _with_units(campaign: Campaign, table: Any) -> Any:
    d = campaign.definition
    names = {p.name: p.label for p in d.space.parameters}
    for n in d.outcome_names:
        unit = d.outcome_unit(n)
        names[n] = f"{n} [{unit}]"
        names[f"pred_{n}"] = f"pred_{n} [{unit}]"
        names[f"pred_{n}_std"] = f"pred_{n}_std [{unit}]"
    return table.rename(columns=names)
