"""Reports of a sweep: the summary table, the plots and the CSV files.

Summary, per strategy (over seeds):

* ``hv_<b>_median``, ``hv_<b>_q25``, ``hv_<b>_q75``: the true hypervolume fraction
  after ``b`` experiments (median and interquartile range), for each chosen budget;
* ``days_to_<p>_median`` for each chosen level ``p`` (default 90 and 95 %): lab
  days until the true hypervolume first reaches ``p`` % of the front's; ``inf``
  (``never`` in the CSV and the table) when the median seed never got there;
* ``lab_days_median``: lab days until the last of the budget's results came back
  (median over seeds): how long the campaign keeps the lab busy;
* ``unsafe_share_post_initial``: the share of experiments after the initial design
  whose true outcome violates a limit (for the cell: safety below 70), pooled over
  seeds, at the full budget;
* ``failures_median``, ``failures_total``: failed experiments per seed and in all.

One more row, ``best possible set``, holds the greedy best-subset fraction of the
true front for each budget: what the best ``b`` settings could reach.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from doe.replay._files import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from doe.replay.truth import TrueFront

__all__ = [
    "BEST_ROW",
    "THRESHOLDS",
    "days_column",
    "days_to_reach",
    "level_name",
    "plot_trajectories",
    "summarize",
    "write_csv",
]

THRESHOLDS = (0.90, 0.95)
BEST_ROW = "best possible set"


def level_name(level: float) -> str:
    """A level (fraction) as the percent in column and metric names: 0.9 -> ``90``."""
    return f"{100 * level:.4g}"


def days_column(level: float) -> str:
    """The summary column of a level: 0.9 -> ``days_to_90_median``."""
    return f"days_to_{level_name(level)}_median"


def days_to_reach(trajectory: pd.DataFrame, level: float) -> float:
    """Lab days until ``hv_fraction`` first reaches ``level`` (``inf``: never)."""
    hit = trajectory.loc[trajectory["hv_fraction"] >= level, "lab_days"]
    return float(hit.min()) if len(hit) else math.inf


def _at_budget(runs: pd.DataFrame, budget: int) -> pd.Series:
    """``hv_fraction`` of each seed after ``budget`` experiments (or its last row)."""
    upto = runs[runs["n_completed"] <= budget]
    return upto.sort_values("n_completed").groupby("seed")["hv_fraction"].last()


def _strategy_row(
    runs: pd.DataFrame,
    strategy: str,
    budgets: Sequence[int],
    levels: Sequence[float] = THRESHOLDS,
) -> dict[str, object]:
    row: dict[str, object] = {"strategy": strategy, "seeds": runs["seed"].nunique()}
    for b in budgets:
        values = _at_budget(runs, b)
        row[f"hv_{b}_median"] = float(values.median())
        row[f"hv_{b}_q25"] = float(values.quantile(0.25))
        row[f"hv_{b}_q75"] = float(values.quantile(0.75))
    for level in levels:
        days = [days_to_reach(g, level) for _, g in runs.groupby("seed")]
        row[days_column(level)] = float(np.median(days))
    last = runs.sort_values("n_completed").groupby("seed").last()
    row["lab_days_median"] = float(last["lab_days"].median())
    post = int(last["n_post_initial"].sum())
    row["unsafe_share_post_initial"] = (
        float(last["n_violating_post_initial"].sum() / post) if post else math.nan
    )
    row["failures_median"] = float(last["n_failed"].median())
    row["failures_total"] = int(last["n_failed"].sum())
    return row


def summarize(
    trajectories: pd.DataFrame,
    /,
    *,
    budgets: Sequence[int],
    truth: TrueFront | None = None,
    strategies: Sequence[str] | None = None,
    levels: Sequence[float] = THRESHOLDS,
) -> pd.DataFrame:
    """The summary table: one row per strategy (then the best possible set).

    Args:
        trajectories: Rows of :func:`doe.replay.run_replay` trajectories (many
            strategies and seeds).
        budgets: Experiment counts to report the hypervolume fraction at.
        truth: The true front; adds the ``best possible set`` row.
        strategies: Row order (default: order of appearance).
        levels: Hypervolume fractions to report the lab days to (default 0.9,
            0.95).

    Returns:
        The summary (columns described in the module docstring).
    """
    import pandas as pd

    order = list(strategies or dict.fromkeys(trajectories["strategy"]))
    rows = [
        _strategy_row(trajectories[trajectories["strategy"] == s], s, budgets, levels)
        for s in order
        if (trajectories["strategy"] == s).any()
    ]
    if truth is not None:
        best: dict[str, object] = {"strategy": BEST_ROW, "seeds": 0}
        for b in budgets:
            best[f"hv_{b}_median"] = truth.best_subset_fraction(b)
        rows.append(best)
    return pd.DataFrame(rows)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table as CSV (``inf`` as ``never``), atomically."""
    out = frame.copy()
    for col in out.columns:
        if col.startswith("days_to_"):
            out[col] = [
                "never" if isinstance(v, float) and math.isinf(v) else v
                for v in out[col]
            ]
    write_atomic(path, lambda tmp: out.to_csv(tmp, index=False))
    return path


def _band(ax: Axes, x: np.ndarray, values: np.ndarray, label: str) -> None:
    """Median line and interquartile band of `seeds x points` values."""
    med = np.nanmedian(values, axis=0)
    lo, hi = np.nanquantile(values, [0.25, 0.75], axis=0)
    (line,) = ax.plot(x, med, label=label, lw=1.8)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)


def _by_experiments(runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    table = runs.pivot_table(index="seed", columns="n_completed", values="hv_fraction")
    return table.columns.to_numpy(dtype=float), table.ffill(axis=1).to_numpy()


def _by_days(runs: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Step functions of hv_fraction over lab days, sampled on ``grid``."""
    out = []
    for _, group in runs.groupby("seed"):
        g = group.sort_values(["lab_days", "n_completed"])
        days, hv = g["lab_days"].to_numpy(), g["hv_fraction"].to_numpy()
        idx = np.searchsorted(days, grid, side="right") - 1
        out.append(np.where(idx >= 0, hv[np.clip(idx, 0, None)], 0.0))
    return np.array(out)


def plot_trajectories(
    trajectories: pd.DataFrame,
    folder: Path,
    /,
    *,
    title: str = "",
    truth: TrueFront | None = None,
) -> list[Path]:
    """Two PNGs: HV fraction vs experiments and vs lab days (median, IQR band).

    Args:
        trajectories: Trajectory rows of many strategies and seeds.
        folder: Where to write ``hv_vs_experiments.png`` and ``hv_vs_lab_days.png``.
        title: A title line.
        truth: Adds the best-possible-set curve to the first plot.

    Returns:
        The two paths.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    strategies = list(dict.fromkeys(trajectories["strategy"]))
    grid = np.linspace(0.0, float(trajectories["lab_days"].max()), 400)
    paths = []
    for kind in ("experiments", "lab_days"):
        fig = Figure(figsize=(7.0, 4.5), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for s in strategies:
            runs = trajectories[trajectories["strategy"] == s]
            if kind == "experiments":
                x, values = _by_experiments(runs)
            else:
                x, values = grid, _by_days(runs, grid)
            _band(ax, x, values, s)
        if truth is not None and kind == "experiments":
            n = int(trajectories["n_completed"].max())
            k = np.arange(1, n + 1)
            best = [truth.best_subset_fraction(int(i)) for i in k]
            ax.plot(k, best, "k--", lw=1, label=BEST_ROW)
        ax.set_xlabel("experiments completed" if kind == "experiments" else "lab days")
        ax.set_ylabel("true hypervolume / true front's")
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(
            title or "Replay: median over seeds, band = interquartile range", fontsize=9
        )
        fig.tight_layout()
        path = folder / f"hv_vs_{kind}.png"
        fig.savefig(path)
        paths.append(path)
    return paths
