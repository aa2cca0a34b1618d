"""``doe demo``: a closed-loop campaign of the ``gp`` strategy against the simulated cell.

The demo runs on the embedded defaults: the ledger is ``demo.db`` in the working
directory (a fresh campaign ``li2s-si-demo-<YYYYmmdd-HHMMSS>`` each run) and the
campaign is mirrored to the embedded MLflow store (or ``$MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from doe.cli._common import (
    CliUsageError,
    err_console,
    fmt_value,
    out_console,
    spinner,
    state_of,
    with_unit,
)
from doe.exceptions import DoeError

if TYPE_CHECKING:
    from doe.campaign import Campaign
    from doe.definition import CampaignDefinition
    from doe.replay import ReplayResult, TrueFront

app = typer.Typer()

DEMO_DB = "demo.db"
#: Published figures of the nominal full cell (calibration.csv): label, row id,
#: regex for a figure given only in the row's note, simulator output, unit.
PUBLISHED: tuple[tuple[str, str, str | None, str, str], ...] = (
    ("initial capacity", "P19", None, "initial_capacity_mah_g", "mAh/g"),
    (
        "retention at cycle 100",
        "P20",
        r"retention (?:about )?([\d.]+)%",
        "retention_pct",
        "%",
    ),
    ("specific energy, Li2S+Si", "P24", None, "specific_energy_active_wh_kg", "Wh/kg"),
    (
        "specific energy, electrodes",
        "P25",
        None,
        "specific_energy_electrode_wh_kg",
        "Wh/kg",
    ),
)


@app.command(
    "demo",
    epilog="Example\n\n  doe demo\n\n  doe demo --budget 32 --seed 3\n\n"
    "  make mlflow-ui   (then open http://127.0.0.1:5000)",
)
def demo(
    ctx: typer.Context,
    *,
    budget: int = typer.Option(40, "--budget", help="Experiments to run."),
    batch: int = typer.Option(4, "--batch", help="Experiments per ask."),
    channels: int = typer.Option(8, "--channels", help="Test channels of the lab."),
    seed: int = typer.Option(0, "--seed", help="Seed of the strategy and the noise."),
) -> None:
    """Run a closed-loop campaign against the simulated Li2S||Si cell.

    The gp strategy designs cells, the simulated lab (8 test channels; each cell
    takes its synthesis, build and cycling time) makes and tests them, and the
    results come back in order of completion. Uses demo.db in this directory and
    the embedded MLflow store. Prints the nominal cell beside the paper's figures,
    the Pareto front found, the best cell for each objective, the true hypervolume
    reached and where to look in MLflow.
    """
    from doe.replay import ReplayConfig, resolve_simulator, run_replay, true_front

    try:
        config = ReplayConfig("gp", seed, budget, batch, channels)
    except DoeError as exc:
        raise CliUsageError(str(exc)) from exc
    console = out_console()
    console.print(calibration_table())
    spec, definition = resolve_simulator("li2s_si")
    with spinner("Finding the true Pareto front by dense search (cached after once)"):
        truth = true_front(spec, definition)
    storage = f"sqlite:///{Path.cwd() / DEMO_DB}"
    name = _fresh_name(storage)
    tracking = state_of(ctx).tracking is not False
    console.print(
        f"Campaign {name!r} in {DEMO_DB}: gp strategy, {budget} experiments, "
        f"batch {batch}, {channels} channels, seed {seed}."
    )
    with _progress(budget) as on_step:
        result = run_replay(
            spec,
            config,
            definition=definition,
            truth=truth,
            storage=storage,
            name=name,
            tracking=tracking,
            on_step=on_step,
        )
    from doe.campaign import Campaign

    campaign = Campaign.load(name, storage, tracking=False)
    _print_results(campaign, result, truth, tracking=tracking)


def _fresh_name(storage: str) -> str:
    from doe.campaign import list_campaigns

    base = f"li2s-si-demo-{datetime.now():%Y%m%d-%H%M%S}"
    taken = (
        {d.name for d in list_campaigns(storage)} if Path(DEMO_DB).exists() else set()
    )
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


@contextlib.contextmanager
def _progress(budget: int) -> Iterator[Callable[[Mapping[str, Any]], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("experiments"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lab day {task.fields[days]:.0f}"),
        TextColumn("hypervolume {task.fields[hv]:.1%} of the true front"),
        console=err_console(),
    )
    task = progress.add_task("demo", total=budget, days=0.0, hv=0.0)

    def on_step(row: Mapping[str, Any]) -> None:
        progress.update(
            task,
            completed=int(row["n_completed"]),
            days=float(row["lab_days"]),
            hv=float(row["hv_fraction"]),
        )

    with progress:
        yield on_step


# ----------------------------------------------------------------- calibration
def _calibration_rows() -> dict[str, dict[str, str]]:
    import campaigns.li2s_si

    path = Path(campaigns.li2s_si.__file__).parent / "calibration.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def published_figures() -> list[dict[str, Any]]:
    """The nominal cell: the paper's figures beside the noise-free simulator's."""
    from campaigns.li2s_si import NOMINAL, SimulatedCell

    rows = _calibration_rows()
    sim = SimulatedCell(noise=False).evaluate(dict(NOMINAL))
    out = []
    for label, row_id, pattern, key, unit in PUBLISHED:
        row = rows[row_id]
        text = row["value"]
        if pattern is not None:
            found = re.search(pattern, row["note"])
            text = found.group(1) if found else "nan"
        paper, model = float(text), float(sim[key])
        out.append(
            {
                "quantity": label,
                "paper": paper,
                "simulated": model,
                "unit": unit,
                "source": f"{row_id} ({row['figure']})",
                "deviation_pct": round(100.0 * (model - paper) / paper, 1) + 0.0,
            }
        )
    return out


def calibration_table() -> Table:
    """The nominal cell beside the published figures, as a rich table."""
    from campaigns.li2s_si import KNOBS

    recipe = ", ".join(with_unit(f"{k.name} {k.nominal:g}", k.unit) for k in KNOBS)
    table = Table(
        title="Nominal cell: seed paper vs simulated cell (noise-free)",
        title_justify="left",
        caption=f"nominal recipe: {recipe}; 0.2C, room temperature",
    )
    for col in ("quantity", "paper", "simulated", "unit", "deviation", "source"):
        table.add_column(
            col,
            justify="right" if col in ("paper", "simulated", "deviation") else "left",
        )
    for r in published_figures():
        table.add_row(
            r["quantity"],
            fmt_value(r["paper"]),
            fmt_value(r["simulated"]),
            r["unit"],
            f"{r['deviation_pct']:+.1f}%",
            r["source"],
        )
    return table


# --------------------------------------------------------------------- results
def _unit_label(name: str, unit: str) -> str:
    return name if unit in ("", "-") else f"{name}\n[{unit}]"


def front_table(campaign: Campaign) -> Table:
    """The measured Pareto front (settings with units, outcomes)."""
    d = campaign.definition
    front = campaign.pareto()
    first = d.objectives[0]
    if len(front):
        front = front.sort_values(first.name, ascending=first.direction != "maximize")
    table = Table(
        title=f"Pareto front found: {len(front)} cells (measured, meeting every limit)",
        title_justify="left",
    )
    table.add_column("trial", justify="right")
    for name, unit in [(p.name, p.unit) for p in d.space.parameters] + [
        (o.name, o.unit) for o in d.objectives
    ]:
        table.add_column(_unit_label(name, unit), justify="right", min_width=len(name))
    for rec in front.to_dict("records"):
        table.add_row(
            str(int(rec["trial"])),
            *[fmt_value(rec[p.name], 3) for p in d.space.parameters],
            *[fmt_value(rec[o.name], 4) for o in d.objectives],
        )
    return table


def best_table(campaign: Campaign, definition: CampaignDefinition) -> Table:
    """The best measured cell for each objective (among those meeting every limit)."""
    front = campaign.pareto()
    table = Table(title="Best cell for each objective", title_justify="left")
    for col in ("objective", "best", "trial", "its other objectives", "settings"):
        table.add_column(col, justify="right" if col in ("best", "trial") else "left")
    for o in definition.objectives:
        if not len(front):
            table.add_row(o.name, "-", "-", "", "")
            continue
        rec = front.loc[(o.sign * front[o.name]).idxmax()]
        others = ", ".join(
            f"{x.name} {fmt_value(rec[x.name], 3)}"
            for x in definition.objectives
            if x.name != o.name
        )
        settings = ", ".join(
            f"{p.name} {fmt_value(rec[p.name], 3)}" for p in definition.space.parameters
        )
        table.add_row(
            o.name,
            with_unit(fmt_value(rec[o.name], 4), o.unit),
            str(int(rec["trial"])),
            others,
            settings,
        )
    return table


def _print_results(
    campaign: Campaign,
    result: ReplayResult,
    truth: TrueFront,
    *,
    tracking: bool,
) -> None:
    from doe.tracking import resolve_tracking_uri

    console = out_console()
    d = campaign.definition
    traj = result.trajectory
    last = traj.iloc[-1]
    counts = campaign.counts()
    console.print(
        f"Done: {counts['complete']} cells measured, {counts['failed']} failed, in "
        f"{last['lab_days']:.0f} lab days."
    )
    console.print(front_table(campaign))
    console.print(best_table(campaign, d))
    n = int(last["n_completed"])
    frac = float(last["hv_fraction"])
    console.print(
        Text(
            f"Hypervolume reached: {frac:.1%} of the true Pareto front's (true, "
            f"noise-free outcomes of the {n} settings tried; the front from "
            f"{truth.n_points} settings). Best possible set of {n} settings: "
            f"{truth.best_subset_fraction(n):.1%}.",
            style="bold",
        )
    )
    if math.isnan(frac):
        console.print("The true front has no hypervolume above the thresholds.")
    if tracking:
        console.print(
            f"MLflow: experiment {campaign.name!r} at {resolve_tracking_uri()} "
            "(one run per experiment and per suggestion round). Run `make mlflow-ui` "
            "and open http://127.0.0.1:5000."
        )
    else:
        console.print("MLflow: tracking off (--no-tracking).")
    doe = f"doe --storage sqlite:///{DEMO_DB} --campaign {campaign.name}"
    knobs = " ".join(f"{p.name}=..." for p in d.space.parameters)
    console.print(
        f"Ledger: {DEMO_DB}; `{doe} status` shows it again, and "
        f"`{doe} predict {knobs}` asks its model about a recipe."
    )
