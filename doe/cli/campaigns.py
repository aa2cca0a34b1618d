"""``doe init``, ``doe update`` and ``doe campaigns``: create, amend and list.

``init`` creates a campaign from its TOML file, ``update`` applies a changed file
to a running campaign, ``campaigns`` lists those in the storage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from doe.cli._common import (
    STATES,
    TableFormat,
    fmt_value,
    note,
    out_console,
    resolve_operator,
    state_of,
    with_unit,
    write_json,
)

if TYPE_CHECKING:
    from doe.definition import CampaignDefinition

app = typer.Typer()


@app.command(
    "init",
    epilog="Example\n\n  doe init campaigns/li2s_si/campaign.toml\n\n"
    "  doe --storage postgresql://lab@db/doe init campaign.toml",
)
def init(
    ctx: typer.Context,
    *,
    file: Path = typer.Argument(
        ..., metavar="FILE", help="The campaign's TOML definition."
    ),
) -> None:
    """Create a campaign from its TOML definition.

    Prints the campaign's knobs with units and ranges, its objectives, limits and
    the storage it lives in.
    """
    from doe.campaign import Campaign
    from doe.definition import CampaignDefinition

    state = state_of(ctx)
    definition = CampaignDefinition.from_toml(file)
    campaign = Campaign.create(definition, state.storage, tracking=state.tracking)
    _print_definition(campaign.definition, campaign.storage)
    note(
        f"Created campaign {campaign.name!r}. Next: `doe import recorded.csv` to add "
        "measured cells, or `doe suggest` for the first batch.",
        style="green",
    )


@app.command(
    "update",
    epilog="Example\n\n  doe update campaigns/li2s_si/campaign.toml --dry-run\n\n"
    '  doe update campaign.toml --note "best cells sit at 550 C: widen to 600 C"',
)
def update(
    ctx: typer.Context,
    *,
    file: Path = typer.Argument(
        ..., metavar="FILE", help="The campaign's changed TOML definition."
    ),
    note_: str | None = typer.Option(
        None, "--note", help="Why it changes (kept with the campaign)."
    ),
    operator: str | None = typer.Option(
        None, "--operator", help="Who changes it (default: the OS user)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the changes and check them; write nothing."
    ),
) -> None:
    """Apply a changed campaign file to a running campaign; its data stay.

    Thresholds, limits, valid ranges, outcomes, descriptions, the strategy and its
    GP settings may change, and a knob's bounds may move as long as every
    experiment in the ledger stays inside them. Knobs, units and objectives stay:
    a new campaign changes those. Prints each change; the next suggestions use it.
    """
    from doe.campaign import Campaign
    from doe.definition import CampaignDefinition
    from doe.exceptions import UnknownCampaignError

    state = state_of(ctx)
    who = resolve_operator(operator)
    definition = CampaignDefinition.from_toml(file)
    try:
        campaign = Campaign.load(
            state.campaign or definition.name, state.storage, tracking=state.tracking
        )
    except UnknownCampaignError as exc:
        if state.campaign:
            raise
        raise UnknownCampaignError(
            f"{exc} {file} names campaign {definition.name!r}: a campaign keeps its "
            "name, so update it with its own file, or create this one with `doe "
            "init`."
        ) from exc
    result = campaign.update_definition(
        definition, note=note_, operator=who, dry_run=dry_run
    )
    if not result.changes:
        note(
            f"Campaign {campaign.name!r} already has this definition; nothing changed."
        )
        return
    table = Table(title=f"Changes to campaign {campaign.name}", title_justify="left")
    for col in ("field", "was", "now"):
        table.add_column(col)
    for c in result.changes:
        unit = _unit_of(c.field, definition)
        table.add_row(c.field, _shown(c.old, unit), _shown(c.new, unit))
    out_console().print(table)
    if dry_run:
        note("Dry run: nothing written. Run it again without --dry-run to apply.")
        return
    note(
        f"Updated campaign {campaign.name!r} (definition {result.old.hash} -> "
        f"{result.new.hash}); the next suggestions use it, recorded data stay.",
        style="green",
    )


def _unit_of(field: str, d: CampaignDefinition) -> str:
    """The unit of a changed field's value, where it has one.

    A knob's bounds, an objective's threshold, noise or valid range, a limit.
    """
    kind, _, rest = field.partition(".")
    name, _, key = rest.partition(".")
    if kind == "parameters" and key in ("low", "high") and name in d.space:
        return d.space[name].unit
    if kind == "objectives" and key in ("threshold", "noise_sd", "valid_range"):
        return d.outcome_unit(name)
    if kind == "limits":
        return d.outcome_unit(rest.split(" ")[0])
    return ""


def _shown(value: Any, unit: str = "") -> str:
    """A definition value for the changes table (absent: a dash)."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return with_unit(" to ".join(_shown(v) for v in value), unit)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return with_unit(fmt_value(value), unit)
    return str(value)


def _print_definition(d: CampaignDefinition, storage: str) -> None:
    from doe.ledger import mask_url

    console = out_console()
    console.print(Text(f"Campaign {d.name}", style="bold"))
    if d.description:
        console.print(Text(d.description))
    knobs = Table(title="Knobs", title_justify="left")
    for col in ("knob", "unit", "low", "high", "scale"):
        knobs.add_column(col)
    for p in d.space.parameters:
        scale = "log" if p.log else (f"step {p.step:g}" if p.step else "linear")
        knobs.add_row(p.name, p.unit, f"{p.low:g}", f"{p.high:g}", scale)
    console.print(knobs)
    console.print(_outcome_table(d))
    for label, value in (
        ("Strategy", f"{d.strategy} (initial design: {d.n_initial} points)"),
        ("GP settings", _gp_settings(d)),
        ("Storage", mask_url(storage)),
    ):
        console.print(Text.assemble((f"{label}: ", "bold"), value))


def _gp_settings(d: CampaignDefinition) -> str:
    """The ``[gp]`` table as ``key = value`` pairs, or that the defaults apply."""
    from doe.strategy_settings import table_of

    if not d.gp:
        return "defaults"
    return ", ".join(f"{k} = {v!r}" for k, v in table_of(d.gp_options).items())


def _outcome_table(d: CampaignDefinition) -> Table:
    table = Table(title="Outcomes", title_justify="left")
    cols = ("outcome", "goal", "unit", "threshold", "limit", "noise (1 sd)", "valid")
    for col in cols:
        table.add_column(col)
    limits = {lim.name: f"{lim.op} {lim.value:g}" for lim in d.limits}
    for o in d.objectives:
        noise = "inferred" if o.noise_sd is None else f"± {o.noise_sd:g}"
        valid = "" if o.valid_range is None else "{:g} to {:g}".format(*o.valid_range)
        table.add_row(
            o.name,
            o.direction,
            o.unit,
            fmt_value(o.threshold),
            limits.get(o.name, ""),
            noise,
            valid,
        )
    for name, unit in d.outcomes:
        table.add_row(name, "recorded", unit, "", limits.get(name, ""), "", "")
    return table


@app.command(
    "campaigns",
    epilog="Example\n\n  doe campaigns\n\n  doe --storage sqlite:///lab.db campaigns --format json",
)
def campaigns(
    ctx: typer.Context,
    *,
    format_: TableFormat = typer.Option(
        TableFormat.table, "--format", "-f", help="table or json (on stdout)."
    ),
) -> None:
    """List the campaigns in the storage with their trial counts by state."""
    from doe.campaign import Campaign
    from doe.ledger import list_campaigns, mask_url

    state = state_of(ctx)
    rows: list[dict[str, Any]] = []
    for d in list_campaigns(state.storage):
        counts = Campaign.load(d.name, state.storage, tracking=False).counts()
        rows.append({"name": d.name, "strategy": d.strategy, **counts})
    if format_ is TableFormat.json:
        write_json(rows)
        return
    if not rows:
        note("No campaigns yet; create one with `doe init campaign.toml`.")
        return
    from doe.ledger import resolve_storage

    table = Table(title=f"Campaigns in {mask_url(resolve_storage(state.storage))}")
    for col in ("campaign", "strategy", *STATES):
        table.add_column(col, justify="right" if col in STATES else "left")
    for r in rows:
        table.add_row(r["name"], r["strategy"], *(str(r.get(s, 0)) for s in STATES))
    out_console().print(table)
