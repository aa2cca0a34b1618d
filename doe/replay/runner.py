"""One replay: a campaign against a simulator in a simulated lab.

The loop, in lab time:

1. **Start.** Fill every channel: ask the strategy for ``min(batch, free channels,
   budget left)`` experiments until no channel is free (``ceil(k / batch)`` asks;
   each ask sees the ones before it as pending).
2. **Run.** Each suggestion is run on the (noisy) simulator when it starts; its
   ``duration_h`` decides when the result comes back.
3. **Complete.** The clock jumps to the next completion; every experiment ending
   at that time is recorded (``Campaign.record`` with the campaign's outcomes, or
   ``Campaign.fail`` with the simulator's failure kind).
4. **Refill.** While at least ``min(batch, budget left)`` channels are free and
   budget is left, ask for that many experiments. Every experiment still running
   is a RUNNING (pending) trial in the ledger, so ``Campaign.suggest`` conditions
   on it.
5. Repeat 3-4 until ``budget`` experiments have come back.

After each completed experiment the trajectory gets a row: the hypervolume of the
TRUE (noise-free) outcomes of the settings tried so far (only those meeting every
limit; failed experiments add nothing), its fraction of the true front's, and counts
of experiments whose true outcome violates a limit and of failures.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from doe.campaign import Campaign
from doe.definition import CampaignDefinition
from doe.exceptions import DoeError, InvalidMeasurementError
from doe.objectives import hypervolume
from doe.replay.lab import HOURS_PER_DAY, SimulatedLab
from doe.replay.simulator import (
    Oracle,
    Outcome,
    SimulatorError,
    SimulatorSpec,
    read_result,
    resolve_simulator,
    spec_of,
)
from doe.replay.truth import TrueFront, problem_hash, reference_point, true_front
from doe.replay.variants import parse_strategy

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OPERATOR",
    "TRAJECTORY_COLUMNS",
    "Ask",
    "ReplayConfig",
    "ReplayResult",
    "run_replay",
]

OPERATOR = "replay"
TRAJECTORY_COLUMNS = (
    "strategy",
    "seed",
    "n_completed",
    "trial_id",
    "lab_days",
    "hypervolume",
    "hv_fraction",
    "n_violating",
    "n_failed",
    "n_post_initial",
    "n_violating_post_initial",
    "failed",
    "failure_kind",
    "violates_limits",
)
"""Columns of a trajectory, before the settings and ``true_<objective>`` columns.

``n_violating`` counts completed experiments whose TRUE outcome violates a limit
(failed ones included: the strategy chose them); ``n_post_initial`` and
``n_violating_post_initial`` count the same for experiments after the first
``initial_design`` suggestions.
"""


@dataclass(frozen=True)
class ReplayConfig:
    """What one replay runs.

    Attributes:
        strategy: One of ``STRATEGY_NAMES``, or a variant with settings such as
            ``gp[tail_floor=0.05]`` (`doe.replay.variants`).
        seed: Seed of the strategy (the campaign's seed) and of the simulator's noise.
        budget: Experiments to run.
        batch: Experiments per ask of the strategy, 1 to ``channels``.
        channels: Test channels of the lab.
        shared: Knobs each batch shares (one synthesis for several cells;
            ``Campaign.suggest(shared=...)``); empty: none.
    """

    strategy: str = "gp"
    seed: int = 0
    budget: int = 40
    batch: int = 4
    channels: int = 8
    shared: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parse_strategy(self.strategy)  # raises DoeError naming what is wrong
        for name, low in (("seed", 0), ("budget", 1), ("batch", 1), ("channels", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DoeError(
                    f"Replay {name} must be a whole number >= {low}; got {value!r}."
                )
        if self.batch > min(self.channels, 64):
            raise DoeError(
                f"Replay batch ({self.batch}) must be at most the number of channels "
                f"({self.channels}) and 64: a batch has to fit in the free channels."
            )


@dataclass(frozen=True)
class Ask:
    """One time the strategy was asked.

    Attributes:
        lab_h: Lab time, hours.
        n: Experiments asked for.
        n_pending: RUNNING trials in the ledger just before the ask.
        trial_ids: The new trials.
    """

    lab_h: float
    n: int
    n_pending: int
    trial_ids: tuple[int, ...]


@dataclass(frozen=True)
class ReplayResult:
    """What one replay produced.

    Attributes:
        config: What ran.
        trajectory: One row per completed experiment (``TRAJECTORY_COLUMNS``, then
            the settings, then ``true_<objective>``).
        asks: Every ask of the strategy, in order.
        campaign: The campaign's name.
        storage: The ledger URL (gone when it was a temporary one).
    """

    config: ReplayConfig
    trajectory: pd.DataFrame
    asks: tuple[Ask, ...]
    campaign: str
    storage: str


@contextlib.contextmanager
def _ledger_url(storage: str | None) -> Iterator[str]:
    if storage is not None:
        yield storage
        return
    with tempfile.TemporaryDirectory(prefix="doe-replay-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'replay.db'}"


@dataclass
class _Running:
    """The book-keeping of one replay (mutable, private to :func:`run_replay`)."""

    config: ReplayConfig
    definition: CampaignDefinition
    campaign: Campaign
    simulator: Any
    oracle: Oracle
    truth: TrueFront
    lab: SimulatedLab
    label: str  # the strategy as tables show it, e.g. gp[tail_floor=0.05]
    started: int = 0
    completed: int = 0
    asks: list[Ask] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    good: list[np.ndarray] = field(default_factory=list)
    order: dict[int, int] = field(default_factory=dict)
    n_failed: int = 0
    n_violating: int = 0
    n_post: int = 0
    n_violating_post: int = 0

    def ask(self, n: int) -> None:
        """Ask for ``n`` experiments and start them."""
        pending = self.campaign.counts()["pending"]
        suggestions = self.campaign.suggest(
            n, operator=OPERATOR, shared=self.config.shared
        )
        settings = [s.params for s in suggestions]
        y, ok = self.oracle.assess(settings)
        for i, s in enumerate(suggestions):
            where = f"Simulator {self.oracle.spec.path!r} at {s.params}"
            result = self.simulator.evaluate(dict(s.params))
            outcome = read_result(result, self.definition, where=where)
            self.lab.start(
                s.trial_id,
                duration_h=outcome.duration_h,
                payload=(outcome, s.params, y[i], bool(ok[i])),
            )
            self.order[s.trial_id] = self.started
            self.started += 1
        self.asks.append(
            Ask(self.lab.now_h, n, pending, tuple(s.trial_id for s in suggestions))
        )

    def record(self, trial_id: int, outcome: Outcome) -> None:
        """Record (or fail) a completed experiment in the ledger."""
        if not outcome.failed:
            self.campaign.record(trial_id, outcome.outcomes, operator=OPERATOR)
            return
        try:
            self.campaign.fail(
                trial_id,
                str(outcome.failure_kind),
                "simulated failure",
                operator=OPERATOR,
            )
        except InvalidMeasurementError as exc:
            raise SimulatorError(
                f"Simulator {self.oracle.spec.path!r} reported a failure the ledger "
                f"cannot record: {exc}"
            ) from exc

    def complete(self, trial_id: int, payload: tuple[Any, ...]) -> dict[str, Any]:
        """Record one result and return its trajectory row."""
        outcome, params, y, ok = payload
        self.record(trial_id, outcome)
        self.completed += 1
        post = self.order[trial_id] >= self.definition.n_initial
        self.n_failed += outcome.failed
        self.n_violating += not ok
        self.n_post += post
        self.n_violating_post += post and not ok
        if ok and not outcome.failed:
            self.good.append(y)
        hv = (
            hypervolume(np.array(self.good), self.truth.reference_point)
            if self.good
            else 0.0
        )
        row: dict[str, Any] = {
            "strategy": self.label,
            "seed": self.config.seed,
            "n_completed": self.completed,
            "trial_id": trial_id,
            "lab_days": self.lab.now_h / HOURS_PER_DAY,
            "hypervolume": hv,
            "hv_fraction": self.truth.fraction(hv),
            "n_violating": self.n_violating,
            "n_failed": self.n_failed,
            "n_post_initial": self.n_post,
            "n_violating_post_initial": self.n_violating_post,
            "failed": bool(outcome.failed),
            "failure_kind": outcome.failure_kind or "",
            "violates_limits": not ok,
            **params,
        }
        for o, value in zip(self.definition.objectives, y, strict=True):
            row[f"true_{o.name}"] = o.sign * float(value)
        self.rows.append(row)
        return row

    def refill(self, *, start: bool) -> None:
        """Ask while channels are free: at the start for any free ones, later in batches."""
        b = self.config.batch
        while self.started < self.config.budget:
            left = self.config.budget - self.started
            n = min(b, left, self.lab.n_free) if start else min(b, left)
            if n < 1 or self.lab.n_free < n:
                return
            self.ask(n)


def run_replay(
    simulator: str | SimulatorSpec,
    config: ReplayConfig,
    /,
    *,
    definition: CampaignDefinition | None = None,
    campaign_file: str | Path | None = None,
    truth: TrueFront | None = None,
    storage: str | None = None,
    name: str | None = None,
    tracking: bool = False,
    on_step: Callable[[Mapping[str, Any]], None] | None = None,
) -> ReplayResult:
    """Replay one campaign against a simulator in a simulated lab.

    Args:
        simulator: A short name (``li2s_si``), ``module:Class`` or a spec.
        config: Strategy, seed, budget, batch and channels.
        definition: The campaign (default: read from ``campaign_file`` or the
            simulator's own campaign file).
        campaign_file: The campaign TOML (required for a ``module:Class`` path
            unless ``definition`` is given).
        truth: The true front (default: :func:`true_front`, cached).
        storage: Ledger URL (default: a SQLite file in a temporary folder).
        name: Campaign name (default ``replay-<strategy>-<seed>``).
        tracking: Mirror the campaign to MLflow (per trial and round).
        on_step: Called with each trajectory row as experiments complete.

    Returns:
        The trajectory and the asks.

    Raises:
        SimulatorError: The simulator cannot be loaded or returned something
            unusable.
        DoeError: Bad settings, or a campaign of that name exists in ``storage``.

    Example:
        >>> r = run_replay("li2s_si", ReplayConfig(strategy="sobol", budget=8))  # doctest: +SKIP
        >>> r.trajectory["hv_fraction"].iloc[-1]  # doctest: +SKIP
    """
    if definition is None:
        spec, base = resolve_simulator(simulator, campaign_file)
    else:
        spec, base = spec_of(simulator), definition
    reference_point(base)
    truth = truth if truth is not None else true_front(spec, base)
    if truth.simulator != spec.path or truth.problem_hash != problem_hash(base):
        raise DoeError(
            f"The true front given is of simulator {truth.simulator!r} and problem "
            f"{truth.problem_hash}; this replay runs {spec.path!r} on campaign "
            f"{base.name!r} (problem {problem_hash(base)}). Pass its own true front."
        )
    variant = parse_strategy(config.strategy)
    d = replace(
        base,
        name=name or f"replay-{variant.slug}-{config.seed}",
        strategy=variant.name,
        gp=tuple({**base.gp_options, **variant.gp_options}.items()),
        seed=config.seed,
        tracking=tracking,
    )
    with _ledger_url(storage) as url:
        state = _Running(
            config=config,
            definition=d,
            campaign=Campaign.create(d, url, tracking=tracking),
            simulator=spec.make(config.seed, noise=True),
            oracle=Oracle(spec, d),
            truth=truth,
            lab=SimulatedLab(config.channels),
            label=variant.label,
        )
        state.refill(start=True)
        while state.lab.n_running:
            for exp in state.lab.finish_next():
                row = state.complete(exp.trial_id, exp.payload)
                if on_step is not None:
                    on_step(row)
            state.refill(start=False)
    import pandas as pd

    return ReplayResult(
        config=config,
        trajectory=pd.DataFrame(state.rows),
        asks=tuple(state.asks),
        campaign=d.name,
        storage=url,
    )
