"""A replay sweep: seeds x strategies in parallel, resumable, with its reports.

Each (strategy, seed) replay is one job. Jobs run in parallel with joblib (local
processes) or on a Dask cluster (``backend="dask"``, ``address="tcp://..."``). As a
job finishes, its trajectory is written to ``<out>/runs/<strategy>-<seed>.csv``
(temp file, then rename), so an interrupted sweep resumes where it stopped: a run
whose file exists is not run again. ``<out>/settings.json`` holds what defines a run
(simulator and its version, campaign definition, budget, batch, channels, dense
points, a hash of the li2s-doe source a replay depends on and the libraries'
versions); a rerun with other values in the same ``<out>`` is refused. Adding seeds
or strategies reuses the finished runs.

Then: ``trajectories.csv`` (every row of every run), ``summary.csv``, the plots
``hv_vs_experiments.png`` and ``hv_vs_lab_days.png``, ``truth.json`` (the true front
and best-subset fractions) and, unless tracking is off, MLflow runs in the
experiment ``replay-<campaign>``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from doe.definition import STRATEGY_NAMES, CampaignDefinition
from doe.exceptions import DoeError
from doe.replay._files import write_text_atomic
from doe.replay.report import THRESHOLDS, plot_trajectories, summarize, write_csv
from doe.replay.runner import ReplayConfig, run_replay
from doe.replay.simulator import SimulatorSpec, resolve_simulator
from doe.replay.truth import SUBSET, TrueFront, true_front
from doe.replay.variants import parse_strategy
from doe.strategy_settings import GPSettings, table_of

if TYPE_CHECKING:
    import pandas as pd

    from doe.tracking import ReplayLog

__all__ = [
    "DEFAULT_BUDGETS",
    "SweepProgress",
    "SweepResult",
    "SweepSettingsError",
    "run_sweep",
]

DEFAULT_BUDGETS = (10, 20, 40)
SETTINGS_FILE = "settings.json"
Backend = Literal["joblib", "dask"]


class SweepSettingsError(DoeError, ValueError):
    """An output folder holds a sweep with other settings, or a setting is invalid."""


@dataclass(frozen=True)
class SweepProgress:
    """Progress of a sweep, handed to the ``progress`` callback.

    Attributes:
        total: Replays in the sweep.
        done: Replays finished (skipped ones included).
        skipped: Replays found finished in ``<out>/runs`` and not run again.
        last: ``(strategy, seed)`` of the replay that just finished, if any.
    """

    total: int
    done: int
    skipped: int
    last: tuple[str, int] | None = None


@dataclass(frozen=True)
class SweepResult:
    """What a sweep produced.

    Attributes:
        trajectories: Every trajectory row of every (strategy, seed).
        summary: The summary table (see :mod:`doe.replay.report`).
        truth: The true front.
        out: The output folder.
        files: ``{"summary", "trajectories", "plots", "truth", "settings"}`` paths.
        n_run: Replays run by this call.
        n_skipped: Replays reused from ``<out>/runs``.
        tracking: Where MLflow has the sweep (``None``: tracking off).
        budgets: The budgets of the summary.
        levels: The hypervolume fractions of its lab-days columns.
        gp_settings: The campaign file's ``[gp]`` table (every ``gp`` row ran
            with it, a variant's brackets on top).
    """

    trajectories: pd.DataFrame
    summary: pd.DataFrame
    truth: TrueFront
    out: Path
    files: dict[str, Any]
    n_run: int
    n_skipped: int
    tracking: ReplayLog | None
    budgets: tuple[int, ...] = field(default=DEFAULT_BUDGETS)
    levels: tuple[float, ...] = field(default=THRESHOLDS)
    gp_settings: dict[str, Any] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sweep"


def _check_strategies(
    strategies: Sequence[str], definition: CampaignDefinition
) -> tuple[str, ...]:
    """The strategies' canonical labels, each once, in order.

    A variant's settings are checked merged with the campaign's ``[gp]`` table, as
    its replays will run them.
    """
    given = [s for s in strategies if isinstance(s, str) and s.strip()]
    if not given or len(given) != len(strategies):
        raise SweepSettingsError(
            f"Strategies must be a non-empty list from {', '.join(STRATEGY_NAMES)} "
            f"(or variants such as gp[tail_floor=0.05]); got {list(strategies)!r}."
        )
    try:
        variants = [parse_strategy(s) for s in given]
    except DoeError as exc:
        raise SweepSettingsError(str(exc)) from exc
    for v in variants:
        try:
            GPSettings(**{**definition.gp_options, **v.gp_options}).check_combination()
        except DoeError as exc:
            raise SweepSettingsError(
                f"Strategy {v.label!r} with the [gp] table of campaign "
                f"{definition.name!r}: {exc}"
            ) from exc
    return tuple(dict.fromkeys(v.label for v in variants))


def _check_budgets(budgets: Sequence[int] | None, budget: int) -> tuple[int, ...]:
    if budgets is None:
        chosen = [b for b in DEFAULT_BUDGETS if b <= budget]
        return tuple(sorted({*chosen, budget}))
    bad = [
        b
        for b in budgets
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= budget
    ]
    if not budgets or bad:
        raise SweepSettingsError(
            f"Report budgets must be whole numbers from 1 to the budget ({budget}); "
            f"got {list(budgets)!r}."
        )
    return tuple(sorted(set(budgets)))


def _check_levels(levels: Sequence[float] | None) -> tuple[float, ...]:
    if levels is None:
        return THRESHOLDS
    bad = [
        v
        for v in levels
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1
    ]
    if not levels or bad:
        raise SweepSettingsError(
            f"Levels must be fractions of the true hypervolume in (0, 1], e.g. "
            f"0.8, 0.9; got {list(levels)!r}."
        )
    return tuple(sorted({float(v) for v in levels}))


def _run_settings(
    spec: SimulatorSpec,
    definition: CampaignDefinition,
    config: ReplayConfig,
    n_points: int,
) -> dict[str, Any]:
    """What defines one run: a rerun must match these to reuse finished runs."""
    return {
        "simulator": spec.path,
        "simulator_version": spec.version,
        "campaign": definition.name,
        "definition_hash": definition.hash,
        "budget": config.budget,
        "batch": config.batch,
        "channels": config.channels,
        "dense_points": n_points,
        "gp_prior_source": _prior_source(definition),
        "code": code_hash(run_code_files()),
        "libraries": library_versions(),
        "shared": list(config.shared),
    }


# The li2s-doe source a replay's numbers depend on (strategies, models, the
# campaign and ledger, the lab clock); reports, tracking, CLI and service aside.
_RUN_CODE = (
    "doe/strategies",
    "surrogates",
    "doe/acquisition.py",
    "doe/campaign.py",
    "doe/definition.py",
    "doe/ledger.py",
    "doe/objectives.py",
    "doe/space.py",
    "doe/strategy_settings.py",
    "doe/replay/lab.py",
    "doe/replay/runner.py",
    "doe/replay/simulator.py",
)
_RUN_LIBRARIES = (
    "botorch",
    "gpytorch",
    "torch",
    "optuna",
    "optuna-integration",
    "numpy",
    "scipy",
)


def run_code_files() -> list[Path]:
    """The source files a replay's numbers depend on, in a fixed order."""
    import doe

    root = Path(doe.__file__).resolve().parent.parent
    files: list[Path] = []
    for rel in _RUN_CODE:
        path = root / rel
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def code_hash(files: Sequence[Path]) -> str:
    """Hash (12 hex digits) of the files' names and contents.

    A sweep resumed after the code changed would mix runs of two versions: the
    output folder's settings hold this hash, so such a resume is refused.
    """
    import hashlib

    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()[:12]


def library_versions() -> str:
    """``botorch 0.x, gpytorch 1.y, ...``: the libraries a replay's numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in _RUN_LIBRARIES:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} missing")
    return ", ".join(out)


def _prior_source(definition: CampaignDefinition) -> str | None:
    """Hash of the source file of the campaign's ``[gp] prior`` (None: none).

    The definition names the function; its code may change between runs, and
    a resumed sweep must not mix runs of two expectations.
    """
    import hashlib
    import inspect

    from doe._paths import import_path

    path = definition.gp_options.get("prior")
    if path is None:
        return None
    try:
        _, _, function = import_path(str(path))
        source = inspect.getsource(inspect.getmodule(function) or function)
    except (ImportError, OSError, TypeError):
        return "unreadable"  # the replays will say why the prior cannot be loaded
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _check_out(out: Path, settings: dict[str, Any], *, write: bool = True) -> None:
    """Refuse an output folder of another sweep; write the settings otherwise.

    ``write=False`` only checks (a sweep of several setups checks every folder
    before it runs any).
    """
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SweepSettingsError(
                f"{path} is not valid JSON; remove the folder {out} or choose another --out."
            ) from exc
        diff = [
            f"{k}: {old.get(k)!r} -> {v!r}"
            for k, v in settings.items()
            if old.get(k) != v
        ]
        if diff:
            why = (
                " (code: the li2s-doe source its replays ran changed since)"
                if old.get("code") != settings.get("code")
                else ""
            )
            raise SweepSettingsError(
                f"The output folder {out} holds a replay sweep with other settings "
                f"({'; '.join(diff)}){why}. Resuming needs the same settings: "
                "choose another --out, or remove the folder to start again."
            )
        return
    if not write:
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(settings, indent=2, sort_keys=True))


def run_file(out: Path, strategy: str, seed: int) -> Path:
    """Where the trajectory of one replay is kept (a variant by its slug)."""
    return out / "runs" / f"{parse_strategy(strategy).slug}-{seed}.csv"


def replay_job(
    simulator: str,
    definition_json: str,
    config: ReplayConfig,
    truth: TrueFront,
) -> pd.DataFrame:
    """One (strategy, seed) replay; the unit of work sent to a worker."""
    definition = CampaignDefinition.from_json(definition_json)
    result = run_replay(
        SimulatorSpec(simulator), config, definition=definition, truth=truth
    )
    return result.trajectory


def _jobs(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return -1
    return n_jobs


def _run_joblib(
    tasks: Sequence[tuple[Any, ...]], n_jobs: int | None
) -> Iterator[pd.DataFrame]:
    from joblib import Parallel, delayed

    if not tasks:
        return iter(())
    parallel = Parallel(n_jobs=_jobs(n_jobs), return_as="generator_unordered")
    return iter(parallel(delayed(replay_job)(*t) for t in tasks))


def _run_dask(tasks: Sequence[tuple[Any, ...]], address: str) -> Iterator[pd.DataFrame]:
    from distributed import Client, as_completed

    with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]  # distributed is untyped
        futures = [client.submit(replay_job, *t, pure=False) for t in tasks]
        for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]  # distributed is untyped
            yield future.result()


@dataclass(frozen=True)
class _Plan:
    spec: SimulatorSpec
    definition: CampaignDefinition
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: tuple[int, ...]
    levels: tuple[float, ...]
    config: ReplayConfig
    out: Path
    n_points: int | None
    run_name: str | None = None  # MLflow parent run (default sweep-<out name>)
    tags: tuple[tuple[str, str], ...] = ()  # more tags of the parent run


def run_sweep(
    simulator: str | SimulatorSpec = "li2s_si",
    /,
    *,
    budget: int = 40,
    batch: int = 4,
    channels: int = 8,
    seeds: int | Sequence[int] = 10,
    strategies: Sequence[str] = ("gp", "sobol", "tpe", "nsga2", "gpsampler"),
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
) -> SweepResult:
    """Replay a campaign for every seed and strategy; summarise, plot and log it.

    Args:
        simulator: Short name (``li2s_si``) or ``module:Class``.
        budget: Experiments per replay.
        batch: Experiments per ask of the strategy.
        channels: Test channels of the simulated lab.
        seeds: Number of seeds (0 to n-1) or the seeds themselves.
        strategies: Strategy names.
        campaign_file: Campaign TOML (required for a ``module:Class`` simulator).
        budgets: Experiment counts reported in the summary (default 10, 20, 40
            where <= budget, and the budget).
        levels: Fractions of the true hypervolume to report the lab days to
            (default 0.9 and 0.95); they change the reports only, so a resumed
            sweep may ask for others.
        out: Output folder (default ``out/replay/<campaign>-n<budget>-b<batch>-k<channels>``).
        jobs: Parallel jobs for joblib (default: all cores).
        backend: ``"joblib"`` (local processes) or ``"dask"``.
        address: Dask scheduler, e.g. ``tcp://127.0.0.1:8786`` (dask only).
        tracking: Log the sweep to MLflow.
        tracking_uri: MLflow URI (default ``$MLFLOW_TRACKING_URI`` or the
            embedded store).
        dense_points: Points of the true-front search (default 200,000 with
            ``evaluate_many``, else 4,096).
        progress: Called as replays finish.
        shared: Knobs each batch shares (one synthesis for several cells), e.g.
            ``("co_precursor_g", "nitridation_temp_c")``.

    Returns:
        Trajectories, summary, true front, files and the MLflow runs.

    Raises:
        SweepSettingsError: Bad strategies, seeds or budgets, or ``out`` holds a
            sweep with other settings.
        SimulatorError: The simulator cannot be loaded or misbehaves.
        TrackingError: MLflow refused the sweep (the files are complete).

    Example:
        >>> r = run_sweep("li2s_si", budget=12, seeds=2, strategies=["sobol"])  # doctest: +SKIP
        >>> r.summary[["strategy", "hv_12_median"]]  # doctest: +SKIP
    """
    plan, truth = prepare_sweep(
        simulator,
        campaign_file=campaign_file,
        strategies=strategies,
        seeds=seeds,
        budget=budget,
        batch=batch,
        channels=channels,
        budgets=budgets,
        levels=levels,
        out=out,
        dense_points=dense_points,
        backend=backend,
        address=address,
        shared=shared,
    )
    return run_prepared(
        plan,
        truth,
        jobs=jobs,
        backend=backend,
        address=address,
        tracking=tracking,
        tracking_uri=tracking_uri,
        progress=progress,
    )


def prepare_sweep(
    simulator: str | SimulatorSpec,
    *,
    campaign_file: str | Path | None,
    strategies: Sequence[str],
    seeds: int | Sequence[int],
    budget: int,
    batch: int,
    channels: int,
    budgets: Sequence[int] | None,
    levels: Sequence[float] | None,
    out: str | Path | None,
    dense_points: int | None,
    backend: Backend,
    address: str | None,
    shared: Sequence[str] = (),
) -> tuple[_Plan, TrueFront]:
    """Check a sweep's settings and its output folder; find the true front.

    Writes nothing but the true front's cache.

    Raises:
        SweepSettingsError: As :func:`run_sweep`.
    """
    if backend not in ("joblib", "dask"):
        raise SweepSettingsError(
            f"Backend must be 'joblib' or 'dask'; got {backend!r}."
        )
    if backend == "dask" and not address:
        raise SweepSettingsError(
            "The dask backend needs the scheduler's address, e.g. "
            "--address tcp://127.0.0.1:8786."
        )
    spec, definition = resolve_simulator(simulator, campaign_file)
    chosen = _check_strategies(strategies, definition)
    try:
        common = definition.space.validate_shared(shared, where=" in --shared")
        config = ReplayConfig(chosen[0], 0, budget, batch, channels, common)
    except DoeError as exc:
        raise SweepSettingsError(str(exc)) from exc
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
    if not seed_list or any(
        isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seed_list
    ):
        raise SweepSettingsError(
            f"Seeds must be a count >= 1 or a list of integers >= 0; got {seeds!r}."
        )
    folder = (
        Path(out)
        if out is not None
        else Path("out")
        / "replay"
        / _slug(
            f"{definition.name}-n{budget}-b{batch}-k{channels}"
            + ("-shared-" + "-".join(config.shared) if config.shared else "")
        )
    )
    plan = _Plan(
        spec=spec,
        definition=definition,
        strategies=chosen,
        seeds=seed_list,
        budgets=_check_budgets(budgets, budget),
        levels=_check_levels(levels),
        config=config,
        out=folder,
        n_points=dense_points,
    )
    truth = true_front(
        plan.spec,
        plan.definition,
        n_points=plan.n_points,
        subset=max(SUBSET, budget),
    )
    _check_out(plan.out, _settings_of(plan, truth), write=False)
    return plan, truth


def _settings_of(plan: _Plan, truth: TrueFront) -> dict[str, Any]:
    return _run_settings(plan.spec, plan.definition, plan.config, truth.n_points)


def run_prepared(
    plan: _Plan,
    truth: TrueFront,
    *,
    jobs: int | None,
    backend: Backend,
    address: str | None,
    tracking: bool,
    tracking_uri: str | None,
    progress: Callable[[SweepProgress], None] | None,
) -> SweepResult:
    """Run a sweep checked by :func:`prepare_sweep`: replays, reports, MLflow."""
    _check_out(plan.out, _settings_of(plan, truth))
    n_run, n_skipped = _execute(
        plan, truth, jobs=jobs, backend=backend, address=address, progress=progress
    )
    return _finish(
        plan,
        truth,
        counts=(n_run, n_skipped),
        tracking=tracking,
        tracking_uri=tracking_uri,
    )


def _execute(
    plan: _Plan,
    truth: TrueFront,
    *,
    jobs: int | None,
    backend: Backend,
    address: str | None,
    progress: Callable[[SweepProgress], None] | None,
) -> tuple[int, int]:
    """Run the replays whose files are missing; write each file as it finishes."""
    pairs = [(s, seed) for s in plan.strategies for seed in plan.seeds]
    todo = [p for p in pairs if not run_file(plan.out, *p).is_file()]
    skipped = len(pairs) - len(todo)
    if progress is not None:
        progress(SweepProgress(len(pairs), skipped, skipped))
    c = plan.config
    definition_json = plan.definition.to_json()
    tasks = [
        (
            plan.spec.path,
            definition_json,
            ReplayConfig(s, seed, c.budget, c.batch, c.channels, c.shared),
            truth,
        )
        for s, seed in todo
    ]
    results = (
        _run_dask(tasks, str(address))
        if backend == "dask"
        else _run_joblib(tasks, jobs)
    )
    done = skipped
    (plan.out / "runs").mkdir(parents=True, exist_ok=True)
    for frame in results:
        strategy, seed = str(frame["strategy"].iloc[0]), int(frame["seed"].iloc[0])
        write_csv(frame, run_file(plan.out, strategy, seed))
        done += 1
        if progress is not None:
            progress(SweepProgress(len(pairs), done, skipped, (strategy, seed)))
    return len(todo), skipped


def _load_runs(plan: _Plan) -> pd.DataFrame:
    import pandas as pd

    frames = [
        pd.read_csv(run_file(plan.out, s, seed), keep_default_na=False, na_values=[""])
        for s in plan.strategies
        for seed in plan.seeds
    ]
    frame = pd.concat(frames, ignore_index=True)
    frame["failure_kind"] = frame["failure_kind"].fillna("")
    return frame


def _finish(
    plan: _Plan,
    truth: TrueFront,
    *,
    counts: tuple[int, int],
    tracking: bool,
    tracking_uri: str | None,
) -> SweepResult:
    n_run, n_skipped = counts
    trajectories = _load_runs(plan)
    summary = summarize(
        trajectories,
        budgets=plan.budgets,
        truth=truth,
        strategies=plan.strategies,
        levels=plan.levels,
    )
    out = plan.out
    files: dict[str, Any] = {
        "settings": out / SETTINGS_FILE,
        "trajectories": write_csv(trajectories, out / "trajectories.csv"),
        "summary": write_csv(summary, out / "summary.csv"),
        "truth": out / "truth.json",
    }
    write_text_atomic(
        files["truth"], json.dumps(_truth_summary(truth, plan.budgets), indent=2)
    )
    c = plan.config
    title = (
        f"{plan.definition.name}: budget {c.budget}, batch {c.batch}, "
        f"{c.channels} channels, {len(plan.seeds)} seeds"
        + (f", batches share {', '.join(c.shared)}" if c.shared else "")
        + "\nmedian over seeds, band = interquartile range"
    )
    files["plots"] = plot_trajectories(trajectories, out, title=title, truth=truth)
    logged = (
        _log(
            plan,
            truth,
            trajectories=trajectories,
            summary=summary,
            files=files,
            uri=tracking_uri,
        )
        if tracking
        else None
    )
    return SweepResult(
        trajectories=trajectories,
        summary=summary,
        truth=truth,
        out=out,
        files=files,
        n_run=n_run,
        n_skipped=n_skipped,
        tracking=logged,
        budgets=plan.budgets,
        levels=plan.levels,
        gp_settings=table_of(plan.definition.gp_options),
    )


def _truth_summary(truth: TrueFront, budgets: Sequence[int]) -> dict[str, Any]:
    data = {
        k: v
        for k, v in asdict(truth).items()
        if k not in ("front", "front_settings", "greedy_hypervolume", "cached")
    }
    data["front_size"] = len(truth.front)
    data["best_subset_fraction"] = {
        str(k): truth.best_subset_fraction(k) for k in sorted({*budgets, SUBSET})
    }
    return data


def _metric_name(label: str) -> str:
    """A strategy label in the characters MLflow allows in a metric name."""
    return re.sub(r"[^A-Za-z0-9_.: /-]+", "_", label).strip("_")


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _log(
    plan: _Plan,
    truth: TrueFront,
    *,
    trajectories: pd.DataFrame,
    summary: pd.DataFrame,
    files: dict[str, Any],
    uri: str | None,
) -> ReplayLog:
    from doe.replay.report import days_to_reach, level_name
    from doe.tracking import ReplayRunLog, log_replay_sweep

    c = plan.config
    params = {
        "simulator": plan.spec.path,
        "simulator_version": plan.spec.version,
        "campaign": plan.definition.name,
        "budget": str(c.budget),
        "batch": str(c.batch),
        "channels": str(c.channels),
        "seeds": ",".join(map(str, plan.seeds)),
        "strategies": ",".join(plan.strategies),
        "dense_points": str(truth.n_points),
        **({"shared": ",".join(c.shared)} if c.shared else {}),
        **{f"gp.{k}": str(v) for k, v in table_of(plan.definition.gp_options).items()},
    }
    metrics: dict[str, float] = {"true_hypervolume": truth.hypervolume}
    for b in plan.budgets:
        metrics[f"best_subset_fraction_{b}"] = truth.best_subset_fraction(b)
    for row in summary.to_dict("records"):
        for b in plan.budgets:
            value = _finite(row.get(f"hv_{b}_median"))
            if value is not None and row["strategy"] in plan.strategies:
                metrics[f"{_metric_name(row['strategy'])}/hv_{b}_median"] = value
    children = []
    for (strategy, seed), group in trajectories.groupby(
        ["strategy", "seed"], sort=False
    ):
        g = group.sort_values("n_completed")
        last = g.iloc[-1]
        children.append(
            ReplayRunLog(
                name=f"{strategy}-seed{seed}",
                params={
                    "strategy": str(strategy),
                    "seed": str(seed),
                    **{
                        k: v
                        for k, v in params.items()
                        if k in ("simulator", "budget", "batch", "channels")
                    },
                },
                tags={"doe.strategy": str(strategy), "doe.seed": str(seed)},
                metrics={
                    "hv_fraction_final": float(last["hv_fraction"]),
                    "lab_days_final": float(last["lab_days"]),
                    "n_failed": float(last["n_failed"]),
                    "n_violating": float(last["n_violating"]),
                    **{
                        f"days_to_{level_name(v)}": days_to_reach(g, v)
                        for v in plan.levels
                    },
                },
                series={
                    key: list(
                        zip(
                            g["n_completed"].astype(int),
                            g[key].astype(float),
                            strict=True,
                        )
                    )
                    for key in ("hv_fraction", "lab_days", "hypervolume")
                },
            )
        )
    artifacts = [
        files["summary"],
        files["trajectories"],
        files["truth"],
        *files["plots"],
    ]
    return log_replay_sweep(
        f"replay-{plan.definition.name}",
        ReplayRunLog(
            name=plan.run_name or f"sweep-{plan.out.name}",
            params=params,
            metrics=metrics,
            tags={"doe.out": str(plan.out.resolve()), **dict(plan.tags)},
        ),
        children,
        artifacts=artifacts,
        uri=uri,
    )
