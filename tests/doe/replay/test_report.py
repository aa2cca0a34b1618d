"""The summary table from hand-made trajectories."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from doe.replay.report import days_to_reach, summarize, write_csv


def _run(strategy: str, seed: int, fractions: list[float], **last: int) -> list[dict]:
    rows = []
    for i, hv in enumerate(fractions, start=1):
        rows.append(
            {
                "strategy": strategy,
                "seed": seed,
                "n_completed": i,
                "lab_days": 10.0 * i,
                "hv_fraction": hv,
                "n_failed": 0,
                "n_post_initial": max(0, i - 2),
                "n_violating_post_initial": 0,
            }
        )
    rows[-1].update(last)
    return rows


def test_summary_medians_quartiles_days_and_shares(tmp_path: Path) -> None:
    rows = (
        _run("a", 0, [0.5, 0.91, 0.96], n_failed=1, n_violating_post_initial=1)
        + _run("a", 1, [0.2, 0.5, 0.92], n_failed=0)
        + _run("a", 2, [0.1, 0.3, 0.4], n_failed=2, lab_days=55)
        + _run("b", 0, [0.1, 0.2, 0.3])
    )
    frame = pd.DataFrame(rows)
    assert days_to_reach(frame[frame["seed"] == 0], 0.9) == 20.0
    assert math.isinf(days_to_reach(frame[frame["seed"] == 2], 0.9))
    summary = summarize(frame, budgets=[2, 3]).set_index("strategy")
    a = summary.loc["a"]
    assert a["seeds"] == 3
    assert a["hv_2_median"] == pytest.approx(0.5)
    assert a["hv_3_median"] == pytest.approx(0.92)
    assert a["hv_3_q25"] == pytest.approx(pd.Series([0.96, 0.92, 0.4]).quantile(0.25))
    assert a["days_to_90_median"] == 30.0  # seeds reach it at 20, 30, never
    assert math.isinf(a["days_to_95_median"])  # 30, never, never
    assert a["unsafe_share_post_initial"] == pytest.approx(1 / 3)  # 1 of 3 pooled
    assert a["failures_median"] == 1.0 and a["failures_total"] == 3
    assert a["lab_days_median"] == 30.0  # the budget took 30, 30 and 55 days
    assert math.isinf(summary.loc["b", "days_to_90_median"])
    text = write_csv(summary.reset_index(), tmp_path / "s.csv").read_text()
    assert "never" in text and "inf" not in text
    # other levels: seeds of "a" reach half the hypervolume at 10, 20, never
    other = summarize(frame, budgets=[3], levels=[0.5, 0.875]).set_index("strategy")
    assert other.loc["a", "days_to_50_median"] == 20.0
    assert other.loc["a", "days_to_87.5_median"] == 30.0
    assert "days_to_90_median" not in other.columns
