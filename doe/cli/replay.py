"""``doe replay``: replay campaigns against a simulator, many seeds and strategies."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from doe.cli._common import CliUsageError, err_console, out_console, state_of
from doe.exceptions import DoeError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from doe.replay import SetupsResult, SweepProgress, SweepResult

app = typer.Typer()


class Backend(StrEnum):
    """Where the replays run."""

    joblib = "joblib"
    dask = "dask"


def parse_list(text: str, *, what: str) -> list[str]:
    """``"gp,sobol"`` -> ``["gp", "sobol"]``.

    Raises:
        CliUsageError: The list is empty.
    """
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise CliUsageError(f"{what} must be a comma-separated list; got {text!r}.")
    return items


def parse_strategies(text: str) -> list[str]:
    """``"gp,gp[tail_floor=0.05,mean=constant]"`` -> two strategies.

    Raises:
        CliUsageError: The list is empty or its brackets are unbalanced.
    """
    from doe.replay.variants import split_strategies

    try:
        items = split_strategies(text)
    except DoeError as exc:
        raise CliUsageError(str(exc)) from exc
    if not items:
        raise CliUsageError(
            f"--strategies must be a comma-separated list; got {text!r}."
        )
    return items


def parse_levels(text: str | None) -> list[float] | None:
    """``"80,90"`` (percents) -> ``[0.8, 0.9]`` (``None`` stays ``None``).

    Raises:
        CliUsageError: An item is not a percent in (0, 100].
    """
    if text is None:
        return None
    items = parse_list(text, what="--levels")
    try:
        values = [float(t) for t in items]
    except ValueError:
        values = []
    if not values or any(not 0 < v <= 100 for v in values):
        raise CliUsageError(
            f"--levels must be percents of the true hypervolume above 0 and at most "
            f"100, separated by commas, e.g. 80,90,95; got {text!r}."
        )
    return [v / 100 for v in values]


def parse_ints(text: str | None, *, what: str) -> list[int] | None:
    """``"10,20,40"`` -> ``[10, 20, 40]`` (``None`` stays ``None``).

    Raises:
        CliUsageError: An item is not a whole number.
    """
    if text is None:
        return None
    try:
        return [int(t) for t in parse_list(text, what=what)]
    except ValueError as exc:
        raise CliUsageError(
            f"{what} must be whole numbers separated by commas, e.g. 10,20,40; "
            f"got {text!r}."
        ) from exc


@app.command(
    "replay",
    epilog="Example\n\n  doe replay --simulator li2s_si --budget 40 --batch 4 --seeds 10\n\n"
    "  doe replay --strategies gp,sobol --seeds 3 --budget 20 --out out/quick\n\n"
    "  doe replay --simulator mylab.sim:Toy --campaign-file toy.toml --jobs 4\n\n"
    "  doe replay --backend dask --address tcp://127.0.0.1:8786",
)
def replay(
    ctx: typer.Context,
    *,
    simulator: str = typer.Option(
        "li2s_si",
        "--simulator",
        help="Short name (li2s_si) or module:Class of a simulator.",
    ),
    campaign_file: Path | None = typer.Option(
        None,
        "--campaign-file",
        help="Campaign TOML (required for a module:Class simulator).",
    ),
    budget: int = typer.Option(40, "--budget", help="Experiments per replay."),
    batch: str = typer.Option(
        "4",
        "--batch",
        help="Experiments per ask; several (1,4,8) compare lab setups in one table.",
    ),
    channels: str = typer.Option(
        "8",
        "--channels",
        help="Test channels of the lab; several (8,16) compare lab setups.",
    ),
    seeds: int = typer.Option(10, "--seeds", help="Seeds per strategy (0 to n-1)."),
    strategies: str = typer.Option(
        "gp,sobol,tpe,nsga2,gpsampler",
        "--strategies",
        help="Comma-separated strategies (gp, sobol, random, tpe, nsga2, gpsampler, "
        "botorch); a gp variant takes \\[gp] settings in "
        "brackets, e.g. gp,gp\\[tail_floor=0.05,trust_length=off],tpe.",
    ),
    budgets: str | None = typer.Option(
        None,
        "--budgets",
        help="Experiment counts in the table (default 10,20,40 up to --budget).",
    ),
    levels: str | None = typer.Option(
        None,
        "--levels",
        help="Percents of the true hypervolume to report the lab days to "
        "(default 90,95), e.g. 80,90,95.",
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", help="Parallel replays (default: all cores)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Output folder; rerun with the same one to resume "
        "(default out/replay/<campaign>-n<budget>-b<batch>-k<channels>; several "
        "setups: one sub-folder each).",
    ),
    backend: Backend = typer.Option(
        Backend.joblib, "--backend", help="joblib (this machine) or dask."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Dask scheduler, e.g. tcp://127.0.0.1:8786."
    ),
    dense_points: int | None = typer.Option(
        None,
        "--dense-points",
        help="Points of the true-front search (default 200000; 4096 without "
        "evaluate_many).",
    ),
    tracking: bool = typer.Option(
        True, "--tracking/--no-tracking", help="Log the sweep to MLflow."
    ),
    shared: str | None = typer.Option(
        None,
        "--shared",
        help="Knobs each batch shares, e.g. one synthesis for several cells: "
        "co_precursor_g,nitridation_temp_c.",
    ),
) -> None:
    """Replay campaigns offline: every strategy and seed against a simulated lab.

    Each replay runs the strategy in a simulated lab of --channels test channels
    where experiments take the simulator's lab time and come back out of order;
    free channels are refilled --batch at a time. The table gives the TRUE
    (noise-free) hypervolume reached, as a fraction of the simulator's true Pareto
    front, after chosen numbers of experiments (median and interquartile range
    over seeds), the lab days the budget takes and the lab days to 90 % and 95 % of
    it (--levels), the share of experiments after the initial design that violate a
    limit, and failures. CSV files, plots and MLflow runs (experiment
    replay-<campaign>) hold the rest.

    Several --batch or --channels values replay every combination (a batch no
    larger than the channels) and compare the lab setups in one table.
    """
    from doe.replay import (
        SimulatorError,
        SweepSettingsError,
        resolve_simulator,
        run_sweep,
    )

    try:
        resolve_simulator(simulator, campaign_file)
    except SimulatorError as exc:
        raise CliUsageError(str(exc)) from exc
    on = tracking and state_of(ctx).tracking is not False
    batches = parse_ints(batch, what="--batch") or []
    channel_counts = parse_ints(channels, what="--channels") or []
    options: dict[str, Any] = {
        "budget": budget,
        "seeds": seeds,
        "strategies": parse_strategies(strategies),
        "campaign_file": campaign_file,
        "budgets": parse_ints(budgets, what="--budgets"),
        "levels": parse_levels(levels),
        "out": out,
        "jobs": jobs,
        "backend": backend.value,
        "address": address,
        "tracking": on,
        "dense_points": dense_points,
        "shared": parse_list(shared, what="--shared") if shared else (),
    }
    if len(set(batches)) == 1 and len(set(channel_counts)) == 1:
        with _progress() as update, _usage_errors(SweepSettingsError):
            result = run_sweep(
                simulator,
                batch=batches[0],
                channels=channel_counts[0],
                progress=update,
                **options,
            )
        print_sweep(result)
        return
    from doe.replay import run_setups

    with _progress() as update, _usage_errors(SweepSettingsError):
        setups = run_setups(
            simulator,
            batches=batches,
            channels=channel_counts,
            progress=update,
            **options,
        )
    print_setups(setups)


def _usage_errors(*kinds: type[Exception]) -> Any:
    """Re-raise the given errors as usage errors (exit 2)."""
    import contextlib

    @contextlib.contextmanager
    def wrap() -> Iterator[None]:
        try:
            yield
        except kinds as exc:
            raise CliUsageError(str(exc)) from exc

    return wrap()


def _progress() -> Any:
    """A rich progress bar over replays, on stderr; yields the sweep callback."""
    import contextlib

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    @contextlib.contextmanager
    def bar() -> Iterator[Any]:
        progress = Progress(
            TextColumn("replays"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=err_console(),
            transient=True,
        )
        task = progress.add_task("replays", total=None, note="true front ...")

        def update(p: SweepProgress) -> None:
            note = f"{p.last[0]} seed {p.last[1]} done" if p.last else ""
            if p.skipped and not p.last:
                note = f"{p.skipped} finished before, skipped"
            progress.update(task, total=p.total, completed=p.done, note=note)

        with progress:
            yield update

    return bar()


def _cell(row: dict[str, Any], budget: int) -> str:
    med = row.get(f"hv_{budget}_median")
    lo, hi = row.get(f"hv_{budget}_q25"), row.get(f"hv_{budget}_q75")
    if med is None or not math.isfinite(float(med)):
        return "-"
    if lo is None or hi is None or not math.isfinite(float(lo)):
        return f"{float(med):.3f}"
    return f"{float(med):.3f} [{float(lo):.3f}-{float(hi):.3f}]"


def _days(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "never" if math.isinf(float(value)) else f"{float(value):.0f}"


def summary_table(result: SweepResult | SetupsResult) -> Table:
    """The summary as a rich table (with batch and channels for several setups)."""
    from doe.replay.report import BEST_ROW, days_column, level_name

    truth = result.truth
    setups = "batch" in result.summary.columns
    table = Table(
        title="True hypervolume fraction (median [IQR] over seeds) after N experiments",
        title_justify="left",
        caption=(
            f"true front: {len(truth.front)} points from {truth.n_points} "
            f"noise-free settings; hypervolume {truth.hypervolume:.4g}"
        ),
    )
    table.add_column("strategy")
    if setups:
        table.add_column("batch", justify="right")
        table.add_column("channels", justify="right")
    for b in result.budgets:
        table.add_column(f"N={b}", justify="right")
    table.add_column(f"lab days for N={max(result.budgets)}", justify="right")
    for level in result.levels:
        table.add_column(f"days to {level_name(level)}%", justify="right")
    for col in ("unsafe after initial", "failures"):
        table.add_column(col, justify="right")
    for row in result.summary.to_dict("records"):
        best = row["strategy"] == BEST_ROW
        cells = [_cell(row, b) for b in result.budgets]
        lab = ["", ""] if setups else []
        if best:
            table.add_row(
                Text(f"{BEST_ROW} (greedy)", style="dim"),
                *lab,
                *[Text(c, style="dim") for c in cells],
                *[""] * (len(result.levels) + 3),
            )
            continue
        if setups:
            lab = [f"{row['batch']:.0f}", f"{row['channels']:.0f}"]
        share = row.get("unsafe_share_post_initial")
        table.add_row(
            str(row["strategy"]),
            *lab,
            *cells,
            _days(row.get("lab_days_median")),
            *[_days(row.get(days_column(level))) for level in result.levels],
            "-" if share is None or math.isnan(share) else f"{100 * share:.0f}%",
            f"{row['failures_median']:.0f} per seed ({row['failures_total']:.0f} in all)",
        )
    return table


def _print_head(result: SweepResult | SetupsResult) -> None:
    """The table, the best-subset line and the ``[gp]`` settings."""
    console = out_console()
    console.print(summary_table(result))
    k = max(40, *result.budgets)
    console.print(
        f"Best possible set of {k} settings (greedy subset of the true front): "
        f"{result.truth.best_subset_fraction(k):.3f} of the true hypervolume."
    )
    if result.gp_settings and any(
        s.split("[")[0] == "gp" for s in result.summary["strategy"]
    ):
        pairs = ", ".join(f"{k} = {v!r}" for k, v in result.gp_settings.items())
        console.print(
            f"gp rows ran with the campaign file's [gp] settings: {pairs} "
            "(a variant's brackets override them)."
        )


def _print_files(files: dict[str, Any]) -> None:
    console = out_console()
    console.print(f"Summary:      {files['summary']}")
    console.print(f"Trajectories: {files['trajectories']}")
    for path in files["plots"]:
        console.print(f"Plot:         {path}")


def print_setups(result: SetupsResult) -> None:
    """Print the setups' table, what was left out, the files and MLflow runs."""
    console = out_console()
    _print_head(result)
    if result.left_out:
        console.print(
            "Left out (a batch has to fit in the free channels): "
            + "; ".join(str(s) for s in result.left_out)
            + "."
        )
    console.print(
        f"Replays run: {result.n_run}, reused: {result.n_skipped}, in "
        f"{len(result.sweeps)} setups."
    )
    _print_files(result.files)
    console.print(
        f"Each setup's sweep (its own table, plots and runs): {result.out}/"
        + "{"
        + ",".join(p.name for p in result.files["setups"])
        + "}"
    )
    if result.tracking:
        t = result.tracking[0]
        console.print(
            f"MLflow: experiment {t.experiment!r} at {t.uri}, one parent run per "
            f"setup ({len(result.tracking)}) with a nested run per replay "
            "(make mlflow-ui)."
        )
    else:
        console.print("MLflow: tracking off.")


def print_sweep(result: SweepResult) -> None:
    """Print the table, the best-subset line, the files and the MLflow runs."""
    console = out_console()
    _print_head(result)
    console.print(
        f"Replays run: {result.n_run}, reused from {result.out / 'runs'}: "
        f"{result.n_skipped}."
    )
    _print_files(result.files)
    if result.tracking is not None:
        t = result.tracking
        console.print(
            f"MLflow: experiment {t.experiment!r} at {t.uri}, run {t.run_id} with "
            f"{len(t.children)} nested runs (make mlflow-ui)."
        )
    else:
        console.print("MLflow: tracking off.")
