"""`make bench-ceiling`: how far the surrogate alone can carry a campaign.

A replay measures a whole strategy (model, acquisition, batching, noise) and takes
minutes per setting. This benchmark isolates the surrogate, in seconds:

1. Measure the simulator at ``n`` scrambled Sobol settings (noisy or noise-free).
2. Fit the production surrogate (``surrogates.fit_gp``) on them.
3. With a perfect acquisition, pick ``k`` settings: the greedy hypervolume subset of
   the model's predicted outcomes over a dense candidate set (settings it predicts to
   break a limit are never picked).
4. Score the picks by their true (noise-free) outcomes, as a fraction of the true
   front's hypervolume (the replay's cached dense search).

The fraction the picks reach is a ceiling for any acquisition that trusts this
model after ``n`` measurements; the greedy best ``k`` settings of the true front (the
replay's "best possible set") are printed beside it. The columns ``exact <objective>`` replace that objective's predictions by the
truth: the gain says which objective's model limits the ceiling most. ``rmse``
columns are the model's error on the true Pareto set.

Usage: python -m bench.ceiling [--simulator li2s_si] [--campaign-file F] [--n 40,80]
       [--picks 30] [--seeds 3] [--candidates 20000] [--noise on,off] [--jobs 2]
       [--mean constant|quadratic] [--prior on|off]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd


def ceiling_row(
    simulator: str,
    n: int,
    picks: int,
    seed: int,
    candidates: int,
    noise: bool,
    campaign_file: str | None = None,
    mean: str | None = None,
    prior: bool | None = None,
) -> dict[str, float | int | str | bool]:
    """One fit: the true hypervolume fraction of ``picks`` model-chosen settings.

    ``mean`` is the GPs' prior mean and ``prior`` whether the campaign's ``[gp]
    prior`` (the lab's expectation) is used; by default, as the campaign's ``gp``
    strategy does.
    """
    import torch

    from doe.replay import resolve_simulator
    from doe.replay.simulator import Oracle, read_result
    from doe.replay.truth import greedy_subset, reference_point, true_front
    from surrogates import fit_gp

    spec, definition = resolve_simulator(simulator, campaign_file)
    truth = true_front(spec, definition)
    oracle = Oracle(spec, definition)
    space = definition.space
    objectives = list(definition.objectives)
    names = [o.name for o in objectives]
    names += [lim.name for lim in definition.limits if lim.name not in names]
    signs = np.array([o.sign for o in objectives])
    ref = np.asarray(reference_point(definition))
    limits = [(names.index(lim.name), lim) for lim in definition.limits]

    X = space.sobol(n, seed=seed)
    rows = space.decode(X)
    if noise:
        sim = spec.make(seed, noise=True)
        results = [
            read_result(sim.evaluate(dict(r)), definition, where=spec.path)
            for r in rows
        ]
        keep = [
            i
            for i, res in enumerate(results)
            if not res.failed and all(k in res.outcomes for k in names)
        ]
        Y = np.array([[results[i].outcomes[k] for k in names] for i in keep])
    else:
        true = oracle.outcomes(rows)
        keep = [i for i in range(n) if not true["failed"][i]]
        Y = np.column_stack([true[k] for k in names])[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from doe.strategies import GPSettings
        from doe.strategies.gp import CampaignExpectation, load_prior

        settings = GPSettings(**definition.gp_options)
        mean = settings.mean if mean is None else mean
        expectation = None
        if settings.prior is not None and prior is not False:
            path = settings.prior
            expectation = CampaignExpectation(
                load_prior(path), definition, path
            ).prior_model(X[keep], names)
        sur = fit_gp(
            X[keep], Y, outcome_names=names, seed=seed, mean=mean, prior=expectation
        )

    pool = space.sobol(candidates, seed=10_000 + seed)
    pool_rows = space.decode(pool)
    true_pool = oracle.outcomes(pool_rows)
    true_Y = np.column_stack([true_pool[k] for k in names])
    true_ok = ~true_pool["failed"]
    for j, lim in limits:
        true_ok &= lim.is_met(true_Y[:, j])
    with torch.no_grad():
        mean = np.vstack(
            [
                sur.predict(torch.as_tensor(pool[i : i + 2048]))[0].numpy()
                for i in range(0, candidates, 2048)
            ]
        )

    def true_fraction(idx: Sequence[int]) -> float:
        from doe.objectives import hypervolume

        good = [i for i in idx if true_ok[i]]
        if not good:
            return 0.0
        vals = true_Y[good][:, : len(objectives)] * signs
        return truth.fraction(hypervolume(vals, ref))

    def picks_of(predicted: np.ndarray) -> list[int]:
        gain = np.clip(predicted[:, : len(objectives)] * signs - ref, 0.0, None)
        for j, lim in limits:
            gain[~lim.is_met(predicted[:, j])] = 0.0
        idx, _ = greedy_subset(gain + 1e-12, picks)
        return idx

    row: dict[str, float | int | str | bool] = {
        "noise": "on" if noise else "off",
        "n": n,
        "seed": seed,
        "n_fitted": len(keep),
        "model picks": true_fraction(picks_of(mean)),
        "best possible": truth.best_subset_fraction(picks),
    }
    for j, name in enumerate(names[: len(objectives)]):
        exact = mean.copy()
        exact[:, j] = true_Y[:, j]
        row[f"exact {name}"] = true_fraction(picks_of(exact))
    front_rows = [dict(s) for s in truth.front_settings]
    front_X = space.encode(front_rows)
    front_true = oracle.outcomes(front_rows)
    with torch.no_grad():
        front_mean = sur.predict(torch.as_tensor(front_X))[0].numpy()
    for j, name in enumerate(names[: len(objectives)]):
        err = front_mean[:, j] - front_true[name]
        row[f"rmse {name}"] = float(np.sqrt(np.nanmean(err**2)))
    return row


def summarise(rows: list[dict[str, float | int | str | bool]]) -> pd.DataFrame:
    """Median over seeds per (noise, n)."""
    df = pd.DataFrame(rows)
    return (
        df.drop(columns=["seed"])
        .groupby(["noise", "n"], sort=False)
        .median(numeric_only=True)
        .reset_index()
    )


def main(argv: Sequence[str] | None = None) -> None:
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    ap.add_argument("--simulator", default="li2s_si", help="short name or module:Class")
    ap.add_argument(
        "--campaign-file", default=None, help="campaign TOML (for module:Class)"
    )
    ap.add_argument("--n", default="40,80", help="measurements per fit (comma list)")
    ap.add_argument("--picks", type=int, default=30, help="settings the model picks")
    ap.add_argument("--seeds", type=int, default=3, help="designs per setting")
    ap.add_argument("--candidates", type=int, default=20_000, help="pool size")
    ap.add_argument("--noise", default="on,off", help="on, off or on,off")
    ap.add_argument("--jobs", type=int, default=2, help="parallel fits")
    ap.add_argument(
        "--mean",
        default=None,
        choices=["constant", "quadratic"],
        help="GP prior mean (default: the gp strategy's)",
    )
    ap.add_argument(
        "--prior",
        default=None,
        choices=["on", "off"],
        help="the campaign's [gp] prior, the lab's expectation (default: on when "
        "the campaign sets one)",
    )
    args = ap.parse_args(argv)
    ns = [int(v) for v in args.n.split(",")]
    noises = [v.strip() == "on" for v in args.noise.split(",")]
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs)(
        delayed(ceiling_row)(
            args.simulator,
            n,
            args.picks,
            s,
            args.candidates,
            nz,
            args.campaign_file,
            args.mean,
            None if args.prior is None else args.prior == "on",
        )
        for nz in noises
        for n in ns
        for s in range(args.seeds)
    )
    table = summarise(rows)
    print(
        f"True hypervolume fraction of {args.picks} settings picked by the surrogate "
        f"fitted on n Sobol measurements (median of {args.seeds} seeds; "
        f"{args.simulator}):"
    )
    print(table.round(3).to_string(index=False))
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
