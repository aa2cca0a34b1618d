"""``doe simulate``: one experiment on the simulated Li2S||Si cell."""

from __future__ import annotations

import secrets
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from doe.cli._common import (
    CliUsageError,
    TableFormat,
    fmt_value,
    out_console,
    parse_assignments,
    write_json,
)

app = typer.Typer()


def _number(text: str) -> float | str:
    """A float when the text is one; else the text (the cell names the bad value)."""
    try:
        return float(text)
    except ValueError:
        return text


@app.command(
    "simulate",
    epilog="Example\n\n  doe simulate li2s_loading_mg_cm2=2.5\n\n"
    "  doe simulate np_ratio=1.4 eo_li_ratio=12 --temperature-c -20 --c-rate 0.5 "
    "--no-noise\n\n  doe simulate --seed 7 --format json",
)
def simulate(
    *,
    values: list[str] | None = typer.Argument(
        None,
        metavar="NAME=VALUE",
        help="Knob settings as name=value; missing knobs take the nominal recipe.",
    ),
    temperature_c: float = typer.Option(
        30.0, "--temperature-c", help="Test temperature, C (-20 to 60)."
    ),
    c_rate: float = typer.Option(0.2, "--c-rate", help="C-rate (0.05 to 2)."),
    cycles: int = typer.Option(500, "--cycles", help="Cycles to run (100 to 2000)."),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the noise (default: a fresh one, shown)."
    ),
    noise: bool = typer.Option(
        True, "--noise/--no-noise", help="Lab noise and failures, or the exact model."
    ),
    format_: TableFormat = typer.Option(
        TableFormat.table, "--format", "-f", help="table or json (on stdout)."
    ),
) -> None:
    """Run the simulated cell (campaigns.li2s_si) for one set of knobs.

    Prints every outcome the lab would measure at the given test conditions.
    Needs no campaign or storage.
    """
    from campaigns.li2s_si import NOMINAL, CellInputError, SimulatedCell

    given = parse_assignments(values or [], what="knob", example="np_ratio=1.4")
    settings: dict[str, Any] = dict(NOMINAL)
    settings.update({k: _number(v) for k, v in given.items()})
    if noise and seed is None:
        seed = secrets.randbelow(2**31)
    try:
        cell = SimulatedCell(seed, noise=noise)
        out = cell.evaluate(
            settings, temperature_c=temperature_c, c_rate=c_rate, cycles=cycles
        )
    except CellInputError as exc:
        raise CliUsageError(str(exc)) from exc
    result = _result(out, settings, sorted(set(NOMINAL) - set(given)), seed, noise)
    result["conditions"] = {
        "temperature_c": temperature_c,
        "c_rate": c_rate,
        "cycles": cycles,
    }
    if format_ is TableFormat.json:
        write_json(result)
    else:
        _print(result)


def _result(
    out: dict[str, Any],
    settings: dict[str, Any],
    nominal: list[str],
    seed: int | None,
    noise: bool,
) -> dict[str, Any]:
    from campaigns.li2s_si import OUTCOMES

    return {
        "settings": settings,
        "nominal": nominal,
        "noise": noise,
        "seed": seed if noise else None,
        "outcomes": {o.name: out[o.name] for o in OUTCOMES if o.name in out},
        "failed": bool(out.get("failed")),
        "failure_kind": out.get("failure_kind"),
        "phase": out.get("phase"),
        "warnings": list(out.get("warnings") or []),
    }


def _print(result: dict[str, Any]) -> None:
    from campaigns.li2s_si import KNOBS, OUTCOMES

    console = out_console()
    knobs = Table(title="Settings", title_justify="left")
    for col in ("knob", "value", "unit", ""):
        knobs.add_column(col)
    for k in KNOBS:
        mark = "nominal" if k.name in result["nominal"] else ""
        knobs.add_row(k.name, fmt_value(result["settings"][k.name]), k.unit, mark)
    cond = result["conditions"]
    knobs.caption = (
        f"tested at {cond['temperature_c']:g} C, {cond['c_rate']:g}C, "
        f"{cond['cycles']} cycles; "
        + (f"noise on, seed {result['seed']}" if result["noise"] else "no noise")
    )
    console.print(knobs)
    outcomes = Table(title="Outcomes", title_justify="left")
    for col in ("outcome", "value", "unit"):
        outcomes.add_column(col, justify="right" if col == "value" else "left")
    for o in OUTCOMES:
        if o.name in result["outcomes"]:
            outcomes.add_row(o.name, fmt_value(result["outcomes"][o.name]), o.unit)
    console.print(outcomes)
    if result["failed"]:
        console.print(
            Text(f"The cell failed: {result['failure_kind']}.", style="bold red")
        )
    for warning in result["warnings"]:
        console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(Text(f"Co-N phase: {result['phase']}", style="dim"))
