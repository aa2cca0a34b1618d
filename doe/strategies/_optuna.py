"""Optuna's own samplers as strategies, and the bridge between studies and Histories.

A baseline sampler proposes on a throw-away in-memory study rebuilt from the History
(measured trials with their objective values and limit slacks as Optuna constraints,
failed trials, pending trials as RUNNING). So every strategy sees exactly the same
data, whatever the ledger's backend, and the sampler's own bookkeeping (e.g. NSGA-II
generations) travels in each proposal's ``sampler_attrs`` and comes back next time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import TrialState

from doe.definition import CampaignDefinition
from doe.strategies._history import History, Proposal, fixed_info, pin

__all__ = ["OptunaStrategy", "distributions", "history_from_study"]

optuna.logging.set_verbosity(optuna.logging.WARNING)

_CONSTRAINTS = "constraints"  # Optuna's system-attr key for constraint values


def distributions(definition: CampaignDefinition) -> dict[str, BaseDistribution]:
    """Optuna distributions of the campaign's parameters."""
    return {
        p.name: FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        for p in definition.space.parameters
    }


def _constraint_values(
    definition: CampaignDefinition, outcomes: dict[str, float]
) -> dict[str, float]:
    # Optuna: a value <= 0 means the constraint holds; a missing outcome violates it.
    out = {}
    for i, lim in enumerate(definition.limits):
        value = outcomes.get(lim.name, np.nan)
        out[f"{i}:{lim}"] = float(-lim.slack(value)) if np.isfinite(value) else 1.0
    return out


def history_from_study(
    definition: CampaignDefinition, study: Study, *, exclude: int | None = None
) -> History:
    """A History from an Optuna study whose trials carry an ``outcomes`` user attr.

    Trials without it use their objective values as outcomes.
    """
    complete, failed, pending = [], [], []
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.number == exclude or set(t.params) != set(definition.space.names):
            continue
        params = {k: float(v) for k, v in t.params.items()}
        if t.state == TrialState.COMPLETE:
            outcomes = t.user_attrs.get("outcomes") or {
                o.name: float(v)
                for o, v in zip(definition.objectives, t.values, strict=True)
            }
            complete.append((params, outcomes, dict(t.user_attrs)))
        elif (
            t.state == TrialState.FAIL
            and t.user_attrs.get("failure_kind") != "abandoned"
        ):
            failed.append((params, dict(t.user_attrs)))
        elif t.state == TrialState.RUNNING:
            pending.append((params, dict(t.user_attrs)))
    return History(
        definition=definition,
        complete=tuple(complete),
        failed=tuple(failed),
        pending=tuple(pending),
        n_total=len(trials),
    )


class OptunaStrategy:
    """One of Optuna's samplers, rebuilt on the History for every batch."""

    def __init__(
        self,
        name: str,
        definition: CampaignDefinition,
        factory: Callable[[int], BaseSampler],
        *,
        seed: int | None = None,
    ):
        self.name = name
        self.definition = definition
        self.seed = definition.seed if seed is None else seed
        self._factory = factory

    def _study(self, history: History, sampler: BaseSampler) -> Study:
        d = self.definition
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            sampler=sampler,
            directions=[o.direction for o in d.objectives],
        )
        dists = distributions(d)
        for params, outcomes, attrs in history.complete:
            values = [outcomes.get(o.name, np.nan) for o in d.objectives]
            if not np.all(np.isfinite(values)):
                continue
            study.add_trial(
                optuna.trial.create_trial(
                    values=values,
                    params=params,
                    distributions=dists,
                    system_attrs=dict(attrs.get("sampler_attrs") or {}),
                    constraints=_constraint_values(d, outcomes) if d.limits else None,
                )
            )
        for state, rows in (
            (TrialState.FAIL, history.failed),
            (TrialState.RUNNING, history.pending),
        ):
            for params, attrs in rows:
                study.add_trial(
                    optuna.trial.create_trial(
                        state=state,
                        params=params,
                        distributions=dists,
                        system_attrs=dict(attrs.get("sampler_attrs") or {}),
                    )
                )
        return study

    def propose(
        self, history: History, n: int, *, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        """Ask the sampler ``n`` times; each asked trial stays pending for the next.

        ``fixed`` knobs go through Optuna's ``PartialFixedSampler``, which leaves
        them out of the base sampler's search space: TPE, NSGA-II and the
        textbook BoTorch recipe then model the free knobs only.
        """
        from doe.strategies.gp import _mix

        seed = _mix(self.seed, history.n_total)
        with warnings.catch_warnings():
            # BoTorchSampler, its acquisitions and PartialFixedSampler are marked
            # experimental in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return self._ask(history, n, seed, dict(fixed or {}))

    def _ask(
        self, history: History, n: int, seed: int, fixed: dict[str, float]
    ) -> list[Proposal]:
        base = self._factory(seed)
        sampler = optuna.samplers.PartialFixedSampler(fixed, base) if fixed else base
        study = self._study(history, sampler)
        dists = distributions(self.definition)
        out = []
        for _ in range(n):
            trial = study.ask(dists)
            frozen = study._storage.get_trial(trial._trial_id)
            sampler_attrs = {
                k: v
                for k, v in frozen.system_attrs.items()
                if not k.startswith(_CONSTRAINTS)
            }
            info = {
                "strategy": self.name,
                "reason": f"optuna {type(base).__name__}",
                "seed": seed,
                "sampler_attrs": _jsonable(sampler_attrs),
            }
            out.append(
                Proposal(
                    params=pin({k: float(v) for k, v in trial.params.items()}, fixed),
                    info=fixed_info(info, fixed),
                )
            )
        return out


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        return dict(json.loads(json.dumps(attrs)))
    except TypeError:
        return {}
