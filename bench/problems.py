"""Benchmark problems: BoTorch test functions and the simulated cell, as campaigns.

Each problem gives a campaign definition (dict), an ``evaluate(settings, rng)`` that
returns measured outcomes (noisy where the problem is), a ``true(settings)`` that
returns the noise-free objective vector signed for maximisation, the reference point
and the best known hypervolume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np


@dataclass
class Problem:
    name: str
    definition: dict[str, Any]
    evaluate: Callable[[dict[str, float], int], dict[str, Any]]
    true: Callable[[list[dict[str, float]]], np.ndarray]
    ref: list[float]
    max_hv: float
    feasible: Callable[[np.ndarray], np.ndarray] | None = None


def _botorch_problem(name: str, fn: Any, dim: int, n_obj: int) -> Problem:
    import torch

    params = [
        {"name": f"x{i}", "low": 0.0, "high": 1.0, "unit": "-"} for i in range(dim)
    ]
    names = [f"f{j}" for j in range(n_obj)]
    ref = fn.ref_point.tolist()
    definition = {
        "name": name,
        "parameters": params,
        "objectives": [
            {"name": n, "direction": "minimize", "unit": "-", "threshold": r}
            for n, r in zip(names, ref, strict=True)
        ],
        "initial_design": 8,
    }
    lo, hi = fn.bounds[0].numpy(), fn.bounds[1].numpy()

    def values(rows: list[dict[str, float]]) -> np.ndarray:
        u = np.array([[r[f"x{i}"] for i in range(dim)] for r in rows])
        X = torch.as_tensor(lo + u * (hi - lo))
        return fn(X).numpy()

    def evaluate(settings: dict[str, float], seed: int) -> dict[str, Any]:
        y = values([settings])[0]
        return {"outcomes": {n: float(v) for n, v in zip(names, y, strict=True)}}

    return Problem(
        name=name,
        definition=definition,
        evaluate=evaluate,
        true=lambda rows: -values(rows),
        ref=[-r for r in ref],
        max_hv=float(fn._max_hv),
    )


def branin_currin() -> Problem:
    from botorch.test_functions.multi_objective import BraninCurrin

    return _botorch_problem("branincurrin", BraninCurrin(), 2, 2)


def dtlz2() -> Problem:
    from botorch.test_functions.multi_objective import DTLZ2

    return _botorch_problem("dtlz2", DTLZ2(dim=6, num_objectives=3), 6, 3)


def cell(max_hv: float | None = None) -> Problem:
    """The simulated Li2S||Si cell (noise on), the campaign of campaigns/li2s_si."""
    import tomllib
    from pathlib import Path

    from campaigns.li2s_si import SimulatedCell

    definition = tomllib.loads(
        (Path(__file__).parents[1] / "campaigns/li2s_si/campaign.toml").read_text()
    )
    definition["initial_design"] = 8
    objectives = [o["name"] for o in definition["objectives"]]
    ref = [float(o["threshold"]) for o in definition["objectives"]]
    truth = SimulatedCell(seed=0, noise=False)

    def evaluate(settings: dict[str, float], seed: int) -> dict[str, Any]:
        out = SimulatedCell(seed=seed, noise=True).evaluate(settings)
        if out["failed"]:
            return {"failed": out["failure_kind"]}
        return {"outcomes": {k: float(out[k]) for k in objectives}}

    def true(rows: list[dict[str, float]]) -> np.ndarray:
        arr = np.array([[r[k["name"]] for k in definition["parameters"]] for r in rows])
        out = truth.evaluate_many(arr, cycles=100)
        Y = np.column_stack([np.asarray(out[k], dtype=float) for k in objectives])
        Y[
            np.asarray(out["safety_score"]) < 70.0
        ] = -np.inf  # below the limit: worthless
        return Y

    return Problem(
        name="cell",
        definition=definition,
        evaluate=evaluate,
        true=true,
        ref=ref,
        max_hv=_cell_max_hv() if max_hv is None else max_hv,
    )


@cache
def _cell_max_hv(n: int = 200_000) -> float:
    """Best known hypervolume of the noise-free cell: dense Sobol search."""
    import tomllib
    from pathlib import Path

    from scipy.stats import qmc

    from campaigns.li2s_si import SimulatedCell
    from doe.objectives import hypervolume, pareto_mask

    d = tomllib.loads(
        (Path(__file__).parents[1] / "campaigns/li2s_si/campaign.toml").read_text()
    )
    lo = np.array([p["low"] for p in d["parameters"]])
    hi = np.array([p["high"] for p in d["parameters"]])
    U = qmc.Sobol(len(lo), scramble=True, seed=0).random_base2(int(np.log2(n)) + 1)[:n]
    out = SimulatedCell(seed=0, noise=False).evaluate_many(
        lo + U * (hi - lo), cycles=100
    )
    names = [o["name"] for o in d["objectives"]]
    Y = np.column_stack([np.asarray(out[k], dtype=float) for k in names])
    Y = Y[np.asarray(out["safety_score"]) >= 70.0]
    ref = [float(o["threshold"]) for o in d["objectives"]]
    Y = Y[np.all(Y > ref, axis=1)]
    return hypervolume(Y[pareto_mask(Y)], ref)


PROBLEMS = {"branincurrin": branin_currin, "dtlz2": dtlz2, "cell": cell}
