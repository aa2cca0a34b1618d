"""`make bench-fixed`: suggestions with the synthesis knobs held fixed, on the cell.

Usage: python -m bench.fixed [--seeds 10] [--history 20] [--picks 8] [--batch 4]
       [--strategies gp,tpe,gpsampler,sobol] [--synthesis 0.4:400,0.2:500]
       [--jobs 2]

The situation: a lab has measured ``--history`` cells over every knob (Sobol
points, noisy, failures included) and now has one synthesis batch on the shelf
(the Co precursor in g and the nitridation temperature in C fixed). Each
strategy proposes ``--picks`` cells for it through the product path
(``Campaign.suggest(batch, fixed=...)`` on a temporary SQLite ledger), in batches
of ``--batch``, each batch measured by the noisy simulated cell before the next.

Score: the hypervolume of the picks' true (noise-free) outcomes, as a fraction of
the true front at that synthesis (the replay's dense search with the two knobs
held), beside the best possible set of as many settings. Paired on seeds (the
same history and noise stream for every strategy): each strategy minus ``gp``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from typing import Any

import numpy as np
from joblib import Parallel, delayed

SIMULATOR = "li2s_si"
SYNTHESIS = ("co_precursor_g", "nitridation_temp_c")


def _held_definition(definition: Any, fixed: dict[str, float]) -> Any:
    """The campaign with the fixed knobs' bounds shrunk onto their values."""
    from doe.space import SearchSpace

    params = []
    for p in definition.space.parameters:
        if p.name not in fixed:
            params.append(p)
            continue
        v = fixed[p.name]
        width = 1e-9 * (p.high - p.low)
        low, high = (v - width, v) if v >= p.high else (v, v + width)
        params.append(replace(p, low=low, high=high, step=None))
    return replace(definition, space=SearchSpace(tuple(params)))


def _measure(sim: Any, params: dict[str, float], definition: Any) -> Any:
    from doe.replay.simulator import read_result

    return read_result(sim.evaluate(dict(params)), definition, where=str(params))


def run_one(
    strategy: str,
    seed: int,
    fixed: dict[str, float],
    n_history: int,
    picks: int,
    batch: int,
) -> dict[str, Any]:
    from doe import Campaign
    from doe.objectives import hypervolume
    from doe.replay.simulator import Oracle, resolve_simulator
    from doe.replay.truth import true_front

    spec, definition = resolve_simulator(SIMULATOR)
    truth = true_front(spec, _held_definition(definition, fixed))
    sim = spec.make(seed, noise=True)
    rows = definition.space.decode(
        definition.space.sobol(n_history, seed=10_000 + seed)
    )
    history = []
    for r in rows:
        out = _measure(sim, r, definition)
        history.append(
            {"settings": r, "failure_kind": out.failure_kind}
            if out.failed
            else {"settings": r, "outcomes": out.outcomes}
        )
    data = {**definition.to_dict(), "strategy": strategy, "seed": seed}
    data["tracking"] = False
    picked: list[dict[str, float]] = []
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        c = Campaign.create(data, storage=f"sqlite:///{tmp}/fixed.db", tracking=False)
        c.add_many(history, operator="bench")
        while len(picked) < picks:
            t0 = time.perf_counter()
            batch_ = c.suggest(min(batch, picks - len(picked)), fixed=fixed)
            seconds.append(time.perf_counter() - t0)
            for s in batch_:
                picked.append(s.params)
                out = _measure(sim, s.params, definition)
                if out.failed:
                    c.fail(s.trial_id, str(out.failure_kind), operator="bench")
                else:
                    c.record(s.trial_id, out.outcomes, operator="bench")
    assert all(p[k] == v for p in picked for k, v in fixed.items())
    y, ok = Oracle(spec, definition).assess(picked)
    hv = hypervolume(y[ok], list(truth.reference_point)) if ok.any() else 0.0
    return {
        "strategy": strategy,
        "seed": seed,
        "synthesis": fixed,
        "fraction": truth.fraction(hv),
        "best": truth.best_subset_fraction(picks),
        "seconds": float(np.mean(seconds)),
    }


def _synthesis(text: str) -> list[dict[str, float]]:
    out = []
    for item in text.split(","):
        co, temp = item.split(":")
        out.append({SYNTHESIS[0]: float(co), SYNTHESIS[1]: float(temp)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--history", type=int, default=20)
    ap.add_argument("--picks", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--strategies", default="gp,tpe,gpsampler,sobol")
    ap.add_argument(
        "--synthesis",
        default="0.4:400,0.2:500",
        help="co_precursor_g:nitridation_temp_c pairs (g:C), comma-separated",
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    strategies = args.strategies.split(",")
    syntheses = _synthesis(args.synthesis)
    from doe.replay.simulator import resolve_simulator
    from doe.replay.truth import true_front

    spec, definition = resolve_simulator(SIMULATOR)
    for fixed in syntheses:  # the dense searches once, before the workers
        true_front(spec, _held_definition(definition, fixed))
    jobs = [
        (s, seed, fixed)
        for fixed in syntheses
        for seed in range(args.seeds)
        for s in strategies
    ]
    t0 = time.perf_counter()
    results = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(run_one)(s, seed, fixed, args.history, args.picks, args.batch)
        for s, seed, fixed in jobs
    )
    print(
        f"\nbench-fixed: {args.history} measured cells (Sobol, noisy), then "
        f"{args.picks} picks in batches of {args.batch} for a synthesis on the "
        f"shelf; {args.seeds} seeds; {time.perf_counter() - t0:.0f} s wall\n"
    )
    header = (
        f"{'synthesis (g:C)':<16} {'strategy':<10} {'median [IQR]':<22} "
        f"{'minus gp (se)':<18} {'wins/losses':<12} {'best of ' + str(args.picks):<10} "
        "s/batch"
    )
    print(header)
    print("-" * len(header))
    for fixed in syntheses:
        label = f"{fixed[SYNTHESIS[0]]:g}:{fixed[SYNTHESIS[1]]:g}"
        rows = [r for r in results if r["synthesis"] == fixed]
        base = {r["seed"]: r["fraction"] for r in rows if r["strategy"] == "gp"}
        for s in strategies:
            mine = sorted(
                (r for r in rows if r["strategy"] == s), key=lambda r: r["seed"]
            )
            f = np.array([r["fraction"] for r in mine])
            q1, med, q3 = np.percentile(f, [25, 50, 75])
            paired = "" if s == "gp" or not base else _paired(mine, base)
            wins = (
                ""
                if s == "gp" or not base
                else f"{sum(r['fraction'] > base[r['seed']] for r in mine)}/"
                f"{sum(r['fraction'] < base[r['seed']] for r in mine)}"
            )
            print(
                f"{label:<16} {s:<10} {f'{med:.3f} [{q1:.3f}-{q3:.3f}]':<22} "
                f"{paired:<18} {wins:<12} {mine[0]['best']:<10.3f} "
                f"{np.mean([r['seconds'] for r in mine]):.1f}"
            )


def _paired(mine: list[dict[str, Any]], base: dict[int, float]) -> str:
    d = np.array([r["fraction"] - base[r["seed"]] for r in mine])
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{d.mean():+.3f} ({se:.3f})"


if __name__ == "__main__":
    main()
