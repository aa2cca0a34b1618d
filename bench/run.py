"""`make bench`: hypervolume after 40 evaluations per problem x strategy, and speed.

Usage: python -m bench.run [--problems branincurrin,dtlz2,cell] [--strategies ...]
       [--seeds 5] [--batches 8] [--batch 4] [--jobs 2]

Each run goes through the real product path: a Campaign in a temporary SQLite
ledger, ``suggest(batch)`` then ``record``/``fail`` for each point. The initial design
is 8 points (two batches of 4), then 8 batches of 4: 40 evaluations.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from bench.problems import PROBLEMS

STRATEGIES = ["gp", "sobol", "tpe", "nsga2", "gpsampler"]


def run_one(
    problem_name: str, strategy: str, seed: int, n_batches: int, batch: int
) -> dict:
    from doe import Campaign
    from doe.objectives import hypervolume

    problem = PROBLEMS[problem_name]()
    definition = dict(problem.definition)
    definition.update(
        name=f"{problem_name}-{strategy}-{seed}", strategy=strategy, seed=seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        c = Campaign.create(
            definition, storage=f"sqlite:///{tmp}/bench.db", tracking=False
        )
        n_init_batches = -(-definition["initial_design"] // batch)
        seconds = []
        evaluated: list[dict[str, float]] = []
        for b in range(n_init_batches + n_batches):
            t0 = time.perf_counter()
            suggestions = c.suggest(batch, operator="bench")
            if b >= n_init_batches:
                seconds.append(time.perf_counter() - t0)
            for s in suggestions:
                out = problem.evaluate(s.params, seed * 100_000 + s.trial_id)
                evaluated.append(s.params)
                if "failed" in out:
                    c.fail(s.trial_id, out["failed"], operator="bench")
                else:
                    c.record(s.trial_id, out["outcomes"], operator="bench")
        Y = problem.true(evaluated)
        hv = hypervolume(Y, problem.ref)
    return {
        "problem": problem_name,
        "strategy": strategy,
        "seed": seed,
        "hv_frac": hv / problem.max_hv,
        "sec_per_batch": float(np.median(seconds)) if seconds else float("nan"),
        "n": len(evaluated),
    }


def speed_one(
    problem_name: str, strategy: str, n_obs: int, batch: int = 4, repeats: int = 3
) -> dict:
    """Seconds for one batch with ``n_obs`` measurements (median of repeats)."""
    from doe.definition import CampaignDefinition
    from doe.strategies import History, make_strategy

    problem = (
        PROBLEMS[problem_name](1.0)
        if problem_name == "cell"
        else PROBLEMS[problem_name]()
    )
    d = CampaignDefinition.from_dict(problem.definition)
    rows = d.space.decode(d.space.sobol(n_obs, seed=1))
    complete, failed = [], []
    for i, r in enumerate(rows):
        out = problem.evaluate(r, i)
        if "failed" in out:
            failed.append((r, {}))
        else:
            complete.append((r, out["outcomes"], {}))
    h = History(
        definition=d, complete=tuple(complete), failed=tuple(failed), n_total=n_obs
    )
    strat = make_strategy(strategy, d)
    strat.propose(h, 1)  # imports and first-call set-up are not what we time
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        strat.propose(h, batch)
        times.append(time.perf_counter() - t0)
    return {
        "problem": problem_name,
        "strategy": strategy,
        "n_obs": n_obs,
        "sec_per_batch": float(np.median(times)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--problems", default="branincurrin,dtlz2,cell")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument(
        "--speed-obs",
        default="25,50,100",
        help="observation counts of the speed table ('' to skip)",
    )
    ap.add_argument("--speed-strategies", default="gp,gpsampler")
    args = ap.parse_args()
    problems = args.problems.split(",")
    strategies = args.strategies.split(",")
    for p in problems:  # warm caches (true front of the cell) once, not per job
        PROBLEMS[p]()
    jobs = [
        (p, s, seed) for p in problems for s in strategies for seed in range(args.seeds)
    ]
    t0 = time.time()
    rows = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(run_one)(p, s, seed, args.batches, args.batch) for p, s, seed in jobs
    )
    import pandas as pd

    df = pd.DataFrame(rows)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    df.to_csv(Path(args.out) / "bench_runs.csv", index=False)
    table = (
        df.groupby(["problem", "strategy"], sort=False)
        .agg(
            hv_median=("hv_frac", "median"),
            hv_min=("hv_frac", "min"),
            hv_max=("hv_frac", "max"),
            sec_per_batch=("sec_per_batch", "median"),
            n_evals=("n", "median"),
            seeds=("seed", "count"),
        )
        .reset_index()
    )
    print()
    print(
        f"Hypervolume after {int(table.n_evals.max())} evaluations, fraction of best known "
        f"(median [min, max] over seeds); median seconds per batch of {args.batch}:"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"\nwall time {time.time() - t0:.0f} s on {os.cpu_count()} cores; runs in {args.out}/bench_runs.csv"
    )
    if args.speed_obs:
        print_speed_table(problems, args)


def print_speed_table(problems: list[str], args: argparse.Namespace) -> None:
    """One job at a time, nothing else running: the seconds are comparable."""
    import pandas as pd

    speed = pd.DataFrame(
        [
            speed_one(p, s, int(n), args.batch)
            for p in problems
            for s in args.speed_strategies.split(",")
            for n in args.speed_obs.split(",")
        ]
    )
    speed.to_csv(Path(args.out) / "bench_speed.csv", index=False)
    wide = speed.pivot_table(
        index=["problem", "strategy"],
        columns="n_obs",
        values="sec_per_batch",
        sort=False,
    )
    print(
        f"\nSeconds per batch of {args.batch} by number of measurements "
        "(median of 3, one job at a time):"
    )
    print(wide.to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
