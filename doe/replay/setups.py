"""Lab setups compared in one sweep: batch sizes x numbers of test channels.

Before it spends lab time a team chooses how many experiments to plan at once (the
batch) and how many test channels to run them on (cyclers bought, borrowed or
shared). ``run_setups(batches=[1, 4, 8], channels=[8, 16])`` replays the same
strategies and seeds on every setup and puts them in one table, where the lab
reads what each setup costs in experiments (the hypervolume after ``N``) and in
time (lab days to a level, lab days for the whole budget).

Each setup is an ordinary sweep (:func:`doe.replay.run_sweep`) in its own folder
``<out>/b<batch>-k<channels>``: it resumes, reports and logs to MLflow as one.
Then ``<out>/summary.csv`` (the sweeps' rows with ``batch`` and ``channels``
columns), ``<out>/trajectories.csv`` and the two plots (one line per strategy and
setup) hold them together.

A combination whose batch is larger than its channels cannot run (a batch has to
fit in the free channels): it is left out and listed in
:attr:`SetupsResult.left_out`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from doe.exceptions import DoeError
from doe.replay.report import BEST_ROW, THRESHOLDS, plot_trajectories, write_csv
from doe.replay.runner import ReplayConfig
from doe.replay.simulator import SimulatorSpec, resolve_simulator
from doe.replay.sweep import (
    DEFAULT_BUDGETS,
    Backend,
    SweepProgress,
    SweepResult,
    SweepSettingsError,
    _slug,
    prepare_sweep,
    run_prepared,
)

if TYPE_CHECKING:
    import pandas as pd

    from doe.replay.truth import TrueFront
    from doe.tracking import ReplayLog

__all__ = ["LabSetup", "SetupsResult", "lab_setups", "run_setups"]


@dataclass(frozen=True)
class LabSetup:
    """One way to run the lab.

    Attributes:
        batch: Experiments planned per ask of the strategy.
        channels: Test channels running experiments at the same time.
    """

    batch: int
    channels: int

    @property
    def slug(self) -> str:
        """Folder name and plot label: ``b4-k8``."""
        return f"b{self.batch}-k{self.channels}"

    @override
    def __str__(self) -> str:
        return f"batch {self.batch}, {self.channels} channels"


def _whole_numbers(values: Sequence[int], what: str) -> tuple[int, ...]:
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < 1]
    if not values or bad:
        raise SweepSettingsError(
            f"{what} must be whole numbers >= 1, e.g. [4] or [1, 4, 8]; got "
            f"{list(values)!r}."
        )
    return tuple(dict.fromkeys(values))


def lab_setups(
    batches: Sequence[int], channels: Sequence[int]
) -> tuple[tuple[LabSetup, ...], tuple[LabSetup, ...]]:
    """Every (batch, channels) combination: those that can run, those left out.

    Args:
        batches: Batch sizes (each once, in the order given).
        channels: Numbers of test channels.

    Returns:
        ``(setups, left_out)``: batch-major order; left out are the ones whose
        batch does not fit in their channels.

    Raises:
        SweepSettingsError: A value is not a whole number >= 1, or no combination
            can run.
    """
    setups: list[LabSetup] = []
    left_out: list[LabSetup] = []
    for b in _whole_numbers(batches, "Batch sizes"):
        for k in _whole_numbers(channels, "Channel counts"):
            try:
                ReplayConfig("sobol", 0, 1, b, k)
            except DoeError:
                left_out.append(LabSetup(b, k))
                continue
            setups.append(LabSetup(b, k))
    if not setups:
        raise SweepSettingsError(
            f"No lab setup can run: every batch ({', '.join(map(str, batches))}) is "
            f"larger than every channel count ({', '.join(map(str, channels))}) or "
            "than 64; a batch has to fit in the free channels. Give smaller batches "
            "or more channels."
        )
    return tuple(setups), tuple(left_out)


@dataclass(frozen=True)
class SetupsResult:
    """What a sweep over lab setups produced.

    Attributes:
        sweeps: ``(setup, sweep result)`` per setup, in order.
        left_out: Combinations that could not run (batch larger than channels).
        trajectories: Every trajectory row, with ``batch`` and ``channels``.
        summary: One row per strategy and setup (strategy-major), ``batch`` and
            ``channels`` columns, then the best possible set.
        truth: The true front (the same for every setup).
        out: The output folder.
        files: ``{"summary", "trajectories", "plots", "setups"}`` paths
            (``setups``: the setups' folders).
        budgets: The budgets of the summary.
        levels: The hypervolume fractions of its lab-days columns.
        gp_settings: The campaign file's ``[gp]`` table.
    """

    sweeps: tuple[tuple[LabSetup, SweepResult], ...]
    left_out: tuple[LabSetup, ...]
    trajectories: pd.DataFrame
    summary: pd.DataFrame
    truth: TrueFront
    out: Path
    files: dict[str, Any]
    budgets: tuple[int, ...] = field(default=DEFAULT_BUDGETS)
    levels: tuple[float, ...] = field(default=THRESHOLDS)
    gp_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_run(self) -> int:
        """Replays run by this call."""
        return sum(r.n_run for _, r in self.sweeps)

    @property
    def n_skipped(self) -> int:
        """Replays reused from the setups' ``runs`` folders."""
        return sum(r.n_skipped for _, r in self.sweeps)

    @property
    def tracking(self) -> tuple[ReplayLog, ...]:
        """The setups' MLflow sweeps (empty: tracking off)."""
        return tuple(r.tracking for _, r in self.sweeps if r.tracking is not None)


def run_setups(
    simulator: str | SimulatorSpec = "li2s_si",
    /,
    *,
    batches: Sequence[int] = (4,),
    channels: Sequence[int] = (8,),
    budget: int = 40,
    seeds: int | Sequence[int] = 10,
    strategies: Sequence[str] = ("gp",),
    campaign_file: str | Path | None = None,
    budgets: Sequence[int] | None = None,
    levels: Sequence[float] | None = None,
    out: str | Path | None = None,
    jobs: int | None = None,
    backend: Backend = "joblib",
    address: str | None = None,
    tracking: bool = True,
    tracking_uri: str | None = None,
    dense_points: int | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
    shared: Sequence[str] = (),
) -> SetupsResult:
    """Replay the strategies on every lab setup; one table, trajectories and plots.

    Every setup's settings and folder are checked before any replay runs, so a
    bad value or a folder of another sweep stops it with nothing written.

    Args:
        simulator: Short name (``li2s_si``) or ``module:Class``.
        batches: Batch sizes (experiments per ask).
        channels: Numbers of test channels.
        out: Output folder (default
            ``out/replay/<campaign>-n<budget>-b<batches>-k<channels>``); each setup
            in ``<out>/b<batch>-k<channels>``.
        budget: Experiments per replay.
        seeds: Number of seeds (0 to n-1) or the seeds themselves.
        strategies: Strategy names (and ``gp`` variants).
        campaign_file: Campaign TOML (required for a ``module:Class`` simulator).
        budgets: Experiment counts reported in the summary.
        levels: Fractions of the true hypervolume to report the lab days to.
        jobs: Parallel jobs for joblib (default: all cores).
        backend: ``"joblib"`` (local processes) or ``"dask"``.
        address: Dask scheduler (dask only).
        tracking: Log each setup's sweep to MLflow.
        tracking_uri: MLflow URI (default ``$MLFLOW_TRACKING_URI`` or the
            embedded store).
        dense_points: Points of the true-front search.
        progress: Called as replays finish, counted over all setups; ``last``
            names the setup beside the strategy.
        shared: Knobs each batch shares (one synthesis for several cells).

    Returns:
        The setups' sweeps and the table over them.

    Raises:
        SweepSettingsError: Bad batches or channels (or no combination that can
            run), or anything :func:`doe.replay.run_sweep` refuses.

    Example:
        >>> r = run_setups("li2s_si", batches=[1, 4], channels=[8], seeds=3)  # doctest: +SKIP
        >>> r.summary[["strategy", "batch", "channels", "hv_40_median"]]  # doctest: +SKIP
    """
    setups, left_out = lab_setups(batches, channels)
    if out is not None:
        folder = Path(out)
    else:
        _, definition = resolve_simulator(simulator, campaign_file)
        folder = _default_out(definition.name, budget, setups)
    prepared = [
        _named(
            setup,
            folder,
            *prepare_sweep(
                simulator,
                campaign_file=campaign_file,
                strategies=strategies,
                seeds=seeds,
                budget=budget,
                batch=setup.batch,
                channels=setup.channels,
                budgets=budgets,
                levels=levels,
                out=folder / setup.slug,
                dense_points=dense_points,
                backend=backend,
                address=address,
                shared=shared,
            ),
        )
        for setup in setups
    ]
    per_setup = len(prepared[0][1].strategies) * len(prepared[0][1].seeds)
    total = per_setup * len(prepared)
    sweeps = []
    skipped_before = 0
    for i, (setup, plan, truth) in enumerate(prepared):
        callback = (
            None
            if progress is None
            else _counting(progress, setup, total, i * per_setup, skipped_before)
        )
        result = run_prepared(
            plan,
            truth,
            jobs=jobs,
            backend=backend,
            address=address,
            tracking=tracking,
            tracking_uri=tracking_uri,
            progress=callback,
        )
        skipped_before += result.n_skipped
        sweeps.append((setup, result))
    name = f"{prepared[0][1].definition.name}: budget {budget}"
    return _combine(tuple(sweeps), left_out, folder, name=name)


def _named(
    setup: LabSetup, folder: Path, plan: Any, truth: TrueFront
) -> tuple[LabSetup, Any, TrueFront]:
    """A setup's plan with its MLflow parent run named and tagged after the sweep."""
    from dataclasses import replace

    tags = (("doe.setups", str(folder.resolve())), ("doe.setup", setup.slug))
    named = replace(plan, run_name=f"sweep-{folder.name}-{setup.slug}", tags=tags)
    return setup, named, truth


def _default_out(name: str, budget: int, setups: Sequence[LabSetup]) -> Path:
    batches = "_".join(map(str, dict.fromkeys(s.batch for s in setups)))
    channels = "_".join(map(str, dict.fromkeys(s.channels for s in setups)))
    return Path("out") / "replay" / _slug(f"{name}-n{budget}-b{batches}-k{channels}")


def _counting(
    progress: Callable[[SweepProgress], None],
    setup: LabSetup,
    total: int,
    offset: int,
    skipped_before: int,
) -> Callable[[SweepProgress], None]:
    """A sweep's progress callback that counts over all setups."""

    def update(p: SweepProgress) -> None:
        last = None if p.last is None else (f"{p.last[0]} ({setup})", p.last[1])
        progress(
            SweepProgress(total, offset + p.done, skipped_before + p.skipped, last)
        )

    return update


def _combine(
    sweeps: tuple[tuple[LabSetup, SweepResult], ...],
    left_out: tuple[LabSetup, ...],
    out: Path,
    *,
    name: str,
) -> SetupsResult:
    import pandas as pd

    first = sweeps[0][1]
    frames = []
    for setup, result in sweeps:
        t = result.trajectories.copy()
        t.insert(1, "batch", setup.batch)
        t.insert(2, "channels", setup.channels)
        frames.append(t)
    trajectories = pd.concat(frames, ignore_index=True)
    rows = []
    strategies = [s for s in first.summary["strategy"] if s != BEST_ROW]
    for strategy in strategies:
        for setup, result in sweeps:
            row = result.summary.loc[result.summary["strategy"] == strategy].iloc[0]
            rows.append(
                {
                    "strategy": strategy,
                    "batch": setup.batch,
                    "channels": setup.channels,
                    **row.drop("strategy").to_dict(),
                }
            )
    best = first.summary.loc[first.summary["strategy"] == BEST_ROW]
    rows.extend(best.to_dict("records"))
    summary = pd.DataFrame(rows)
    for col in ("batch", "channels"):  # whole numbers; empty on the best row
        summary[col] = summary[col].astype("Int64")
    labelled = trajectories.assign(
        strategy=[
            f"{s} b{b} k{k}"
            for s, b, k in zip(
                trajectories["strategy"],
                trajectories["batch"],
                trajectories["channels"],
                strict=True,
            )
        ]
    )
    n_seeds = len(set(first.trajectories["seed"]))
    title = (
        f"{name}, {n_seeds} seeds, b = batch, k = channels\n"
        "median over seeds, band = interquartile range"
    )
    files: dict[str, Any] = {
        "summary": write_csv(summary, out / "summary.csv"),
        "trajectories": write_csv(trajectories, out / "trajectories.csv"),
        "plots": plot_trajectories(labelled, out, title=title, truth=first.truth),
        "setups": [r.out for _, r in sweeps],
    }
    return SetupsResult(
        sweeps=sweeps,
        left_out=left_out,
        trajectories=trajectories,
        summary=summary,
        truth=first.truth,
        out=out,
        files=files,
        budgets=first.budgets,
        levels=first.levels,
        gp_settings=dict(first.gp_settings),
    )
