"""``doe suggest`` (the next batch), ``doe pull`` (one experiment for one worker), ``doe release``."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from doe.cli._common import (
    CliUsageError,
    OutFormat,
    TableFormat,
    add_trial_columns,
    fmt_mean_std,
    fmt_value,
    jsonable,
    note,
    out_console,
    parse_assignments,
    resolve_operator,
    spinner,
    state_of,
    with_unit,
    write_json,
)

if TYPE_CHECKING:
    from doe.campaign import Campaign, Suggestion

app = typer.Typer()

_OPERATOR_HELP = "Who asks (default: the OS user)."
_FIX_HELP = (
    "Hold a knob at a value in its unit, e.g. the synthesis batch on the shelf: "
    "--fix co_precursor_g=0.4 --fix nitridation_temp_c=450 (repeatable)."
)


def _fixed(words: list[str] | None) -> dict[str, str]:
    return parse_assignments(words or [], what="knob", example="nitridation_temp_c=450")


_SPIN = "Fitting the model and optimising the acquisition..."


def _format_for(format_: OutFormat | None, output: Path | None) -> OutFormat:
    """The output format: the option, else from --output's suffix, else a table."""
    if output is None:
        return format_ or OutFormat.table
    if format_ is None:
        suffix = output.suffix.lower().lstrip(".")
        if suffix in ("csv", "json"):
            return OutFormat(suffix)
        raise CliUsageError(
            f"Cannot tell the format of --output {str(output)!r}; name a .csv or .json "
            "file or pass --format csv|json."
        )
    if format_ is OutFormat.table:
        raise CliUsageError("--output writes csv or json; pass --format csv or json.")
    return format_


@app.command(
    "suggest",
    epilog="Example\n\n  doe suggest -n 4\n\n"
    "  doe suggest -n 8 --format csv --output batch.csv\n\n"
    "  doe suggest --format json | jq '.suggestions[].trial'\n\n"
    "  doe suggest -n 4 --fix co_precursor_g=0.4 --fix nitridation_temp_c=450\n\n"
    "  doe suggest -n 4 --shared co_precursor_g,nitridation_temp_c",
)
def suggest(
    ctx: typer.Context,
    *,
    n: int = typer.Option(1, "-n", "--n", min=1, max=64, help="Batch size (1-64)."),
    format_: OutFormat | None = typer.Option(
        None,
        "--format",
        "-f",
        help="table, csv or json (default: table, or the --output suffix).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write csv/json to this file instead of stdout."
    ),
    operator: str | None = typer.Option(None, "--operator", help=_OPERATOR_HELP),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Use this strategy for this batch only (e.g. sobol)."
    ),
    fix: list[str] | None = typer.Option(
        None, "--fix", metavar="KNOB=VALUE", help=_FIX_HELP
    ),
    shared: list[str] | None = typer.Option(
        None,
        "--shared",
        metavar="KNOB[,KNOB...]",
        help="Knobs the whole batch shares, e.g. one synthesis for several cells: "
        "--shared co_precursor_g,nitridation_temp_c (repeatable).",
    ),
) -> None:
    """Propose the next batch of experiments.

    Each row shows the trial id to record against, every knob value, the model's
    predicted outcomes (mean ± std of the expected value, measurement noise not
    included; none during the initial design), the strategy and why the point was
    chosen. Expect the measurements to fall short of the predictions on average:
    the points are chosen where the model is most hopeful (in cell replays, by 14
    Wh/kg, 2 % retention and 7 safety points). The batch is conditioned on every
    pending trial. With --fix, the knobs given keep their values (material already
    made, a furnace already set) and the strategy chooses the others, its model
    still learning from every experiment. With --shared, the batch shares those
    knobs (one synthesis batch for several cells): the first experiment is chosen
    as usual, the others for its values of them.
    """
    fmt = _format_for(format_, output)
    who = resolve_operator(operator)
    fixed = _fixed(fix)
    common = [k.strip() for word in shared or [] for k in word.split(",") if k.strip()]
    campaign = state_of(ctx).load()
    with spinner(_SPIN):
        batch = campaign.suggest(
            n, operator=who, strategy=strategy, fixed=fixed, shared=common
        )
    if fmt is OutFormat.table:
        _print_table(campaign, batch)
    elif output is None:
        _write(campaign, batch, fmt, sys.stdout)
    else:
        with output.open("w", encoding="utf-8", newline="") as fh:
            _write(campaign, batch, fmt, fh)
        note(f"Wrote {len(batch)} suggestion(s) to {output}.")
    ids = ", ".join(str(s.trial_id) for s in batch)
    note(
        f"Suggested trial(s) {ids} of campaign {campaign.name!r}. Record results with "
        "`doe record TRIAL name=value ...`."
    )


def _predicted_names(campaign: Campaign, batch: list[Suggestion]) -> list[str]:
    seen = {name for s in batch for name in s.predicted}
    return [n for n in campaign.definition.outcome_names if n in seen]


def _print_table(campaign: Campaign, batch: list[Suggestion]) -> None:
    d = campaign.definition
    predicted = _predicted_names(campaign, batch)
    table = Table(title=f"Suggestions for {campaign.name}", title_justify="left")
    add_trial_columns(table, d, predicted)
    table.add_column("strategy")
    table.add_column("reason")
    for s in batch:
        cells = [str(s.trial_id)]
        cells += [fmt_value(s.params[p]) for p in d.space.names]
        cells += [
            fmt_mean_std(*s.predicted[name]) if name in s.predicted else "-"
            for name in predicted
        ]
        table.add_row(*cells, s.strategy, s.reason)
    out_console().print(table)
    held = batch[0].fixed if batch else None
    if held:
        note("Held fixed: " + ", ".join(_held(d, held)) + ".")
    if len(batch) > 1 and batch[-1].shared:
        values = {k: batch[-1].params[k] for k in batch[-1].shared}
        note(
            f"The {len(batch)} experiments share "
            + ", ".join(_held(d, values))
            + " (one batch of material)."
        )


def _held(d: Any, fixed: dict[str, float]) -> list[str]:
    """``name = value unit`` of each fixed knob."""
    return [
        f"{name} = {with_unit(fmt_value(value), d.space[name].unit)}"
        for name, value in fixed.items()
    ]


def suggestion_dict(campaign: Campaign, s: Suggestion) -> dict[str, Any]:
    """One suggestion as plain data (settings and predictions in natural units)."""
    d = campaign.definition
    return {
        "trial": s.trial_id,
        "settings": dict(s.params),
        "predicted": {
            name: {"mean": mean, "std": std, "unit": d.outcome_unit(name)}
            for name, (mean, std) in s.predicted.items()
        },
        "strategy": s.strategy,
        "reason": s.reason,
        "acq_value": s.acq_value if math.isfinite(s.acq_value) else None,
        "claimed_by": s.claimed_by,
        "fixed": dict(s.fixed),
        "shared": list(s.shared),
    }


def _write(
    campaign: Campaign, batch: list[Suggestion], fmt: OutFormat, fh: TextIO
) -> None:
    d = campaign.definition
    if fmt is OutFormat.json:
        units = {p.name: p.unit for p in d.space.parameters}
        units.update({n: d.outcome_unit(n) for n in d.outcome_names})
        doc = {
            "campaign": campaign.name,
            "units": units,
            "suggestions": [suggestion_dict(campaign, s) for s in batch],
        }
        fh.write(json.dumps(jsonable(doc), indent=2, allow_nan=False) + "\n")
        return
    predicted = _predicted_names(campaign, batch)
    header = ["trial", *(p.label for p in d.space.parameters)]
    for name in predicted:
        unit = d.outcome_unit(name)
        header += [f"pred_{name} [{unit}]", f"pred_{name}_std [{unit}]"]
    header += ["strategy", "reason", "acq_value"]
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(header)
    for s in batch:
        row: list[Any] = [s.trial_id, *(s.params[p] for p in d.space.names)]
        for name in predicted:
            row += list(s.predicted.get(name, ("", "")))
        acq = s.acq_value if math.isfinite(s.acq_value) else ""
        writer.writerow([*row, s.strategy, s.reason, acq])


@app.command(
    "pull",
    epilog="Example\n\n  doe pull --operator ana\n\n  doe pull --operator ben --lease-hours 48"
    "\n\n  doe pull --operator ana --fix co_precursor_g=0.4 --fix nitridation_temp_c=450",
)
def pull(
    ctx: typer.Context,
    *,
    operator: str | None = typer.Option(
        None, "--operator", help="The lab worker (default: the OS user)."
    ),
    lease_hours: float | None = typer.Option(
        None,
        "--lease-hours",
        help="How long the claim holds (default: the campaign's suggestion TTL).",
    ),
    format_: TableFormat = typer.Option(
        TableFormat.table, "--format", "-f", help="table (a panel) or json."
    ),
    fix: list[str] | None = typer.Option(
        None, "--fix", metavar="KNOB=VALUE", help=_FIX_HELP
    ),
) -> None:
    """Give one lab worker the next experiment, claimed for them.

    The oldest unclaimed suggestion, or a new one when there is none. Nobody else
    pulls it while the claim holds. With --fix, the oldest unclaimed suggestion
    that holds those values, else a new one chosen around them.
    """
    if lease_hours is not None and not (math.isfinite(lease_hours) and lease_hours > 0):
        raise CliUsageError(f"--lease-hours must be a number > 0; got {lease_hours}.")
    who = resolve_operator(operator)
    fixed = _fixed(fix)
    campaign = state_of(ctx).load()
    with spinner(_SPIN):
        s = campaign.pull(who, lease_hours=lease_hours, fixed=fixed)
    until = campaign.trial(s.trial_id).attrs.get("claim_until")
    if format_ is TableFormat.json:
        write_json({**suggestion_dict(campaign, s), "claim_until": until})
        return
    _print_panel(campaign, s, until)


def _print_panel(campaign: Campaign, s: Suggestion, until: str | None) -> None:
    d = campaign.definition
    width = max(len(n) for n in d.space.names)
    lines = Text()
    for p in d.space.parameters:
        lines.append(f"{p.name:<{width}} = ", style="bold")
        lines.append(f"{with_unit(fmt_value(s.params[p.name]), p.unit)}")
        lines.append(" (fixed)\n" if p.name in s.fixed else "\n", style="dim")
    info = Text()
    for name, (mean, std) in s.predicted.items():
        info.append(
            f"expected {name}: {fmt_mean_std(mean, std, d.outcome_unit(name))}\n"
        )
    info.append(f"why: {s.reason or s.strategy}\n", style="dim")
    info.append(
        f"claimed by {s.claimed_by} until {(until or '?')[:16].replace('T', ' ')} UTC",
        style="dim",
    )
    title = f"Trial {s.trial_id} — build this cell"
    out = out_console()
    out.print(Panel(Group(lines, info), title=title, title_align="left", expand=False))
    objectives = " ".join(f"{o.name}=..." for o in d.objectives)
    out.print(Text(f"When measured:   doe record {s.trial_id} {objectives}"))
    out.print(Text(f'If it failed:    doe fail {s.trial_id} --kind KIND --note "..."'))
    out.print(Text(f"To hand it back: doe release {s.trial_id}"))


@app.command(
    "release",
    epilog="Example\n\n  doe release 12 --operator ana\n\n  doe release 12 --force",
)
def release(
    ctx: typer.Context,
    *,
    trial: int = typer.Argument(..., metavar="TRIAL", help="The trial number."),
    operator: str | None = typer.Option(
        None, "--operator", help="Who holds the claim (default: the OS user)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Release the claim whoever holds it."
    ),
) -> None:
    """Hand a pulled experiment back, so that someone else can pull it."""
    who = None if force else resolve_operator(operator)
    campaign = state_of(ctx).load()
    campaign.release(trial, operator=who)
    note(f"Released trial {trial} of campaign {campaign.name!r}; it is free to pull.")
