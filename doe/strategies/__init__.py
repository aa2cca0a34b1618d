"""Strategies: our GP strategy, and baselines for comparison.

Each strategy has ``propose(history, n) -> list[Proposal]``. ``gp`` and ``sobol`` are
also Optuna samplers; ``random``, ``tpe``, ``nsga2`` and ``gpsampler`` are Optuna's own
samplers run on the same History, and ``botorch`` is the textbook BoTorch recipe
(Optuna's maintained ``BoTorchSampler``: one ``SingleTaskGP`` over the objectives
and limits, qLogNEHVI against the worst values measured, or qLogEI with one
objective), the yardstick a lab that knows BoTorch would compare ``gp`` with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from doe.definition import STRATEGY_NAMES, CampaignDefinition
from doe.exceptions import UnknownStrategyError
from doe.space import closest_name
from doe.strategies._history import History, Proposal
from doe.strategies.gp import GPSettings, GPStrategy, SobolStrategy

__all__ = [
    "STRATEGY_NAMES",
    "GPSettings",
    "GPStrategy",
    "History",
    "Proposal",
    "SobolStrategy",
    "StrategyProtocol",
    "make_strategy",
]


class StrategyProtocol(Protocol):
    """What the campaign needs of a strategy."""

    name: str

    def propose(
        self, history: History, n: int, *, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        """Return ``n`` proposals given the campaign's history.

        ``fixed`` holds some knobs at given values (``SearchSpace.validate_fixed``).
        """
        ...


def make_strategy(
    name: str,
    definition: CampaignDefinition,
    *,
    seed: int | None = None,
    device: str = "cpu",
    **options: Any,
) -> StrategyProtocol:
    """Build a strategy by name.

    Args:
        name: One of ``STRATEGY_NAMES``.
        definition: The campaign definition.
        seed: Seed (default: the campaign's).
        device: ``"cpu"`` or ``"cuda"`` (for ``gp`` and ``botorch``).
        **options: ``GPSettings`` fields for ``gp``; they override the campaign
            file's ``[gp]`` table, which overrides the defaults.

    Raises:
        UnknownStrategyError: ``name`` is not a known strategy.
    """
    import optuna

    from doe.strategies._optuna import OptunaStrategy

    if name == "gp":
        return GPStrategy(
            definition,
            seed=seed,
            settings=GPSettings(device=device, **{**definition.gp_options, **options}),
        )
    if name == "sobol":
        return SobolStrategy(definition, seed=seed)
    n0 = definition.n_initial
    factories: dict[str, Any] = {
        "random": lambda s: optuna.samplers.RandomSampler(seed=s),
        "tpe": lambda s: optuna.samplers.TPESampler(
            seed=s,
            n_startup_trials=n0,
            multivariate=True,
            constant_liar=True,
        ),
        "nsga2": lambda s: optuna.samplers.NSGAIISampler(
            seed=s, population_size=max(4, n0)
        ),
        "gpsampler": lambda s: optuna.samplers.GPSampler(seed=s, n_startup_trials=n0),
        "botorch": lambda s: _botorch_sampler(
            s, n0, len(definition.objectives), device
        ),
    }
    if name not in factories:
        raise UnknownStrategyError(
            f"Unknown strategy {name!r}.{closest_name(name, STRATEGY_NAMES)} "
            f"Choose one of: {', '.join(STRATEGY_NAMES)}."
        )
    return OptunaStrategy(name, definition, factories[name], seed=seed)


def _botorch_sampler(seed: int, n_startup: int, n_objectives: int, device: str) -> Any:
    """Optuna's ``BoTorchSampler`` with BoTorch's log acquisitions, pending-aware."""
    import torch
    from optuna_integration.botorch import (
        BoTorchSampler,
        qlogei_candidates_func,
        qnehvi_candidates_func,
    )

    return BoTorchSampler(
        candidates_func=(
            qnehvi_candidates_func if n_objectives > 1 else qlogei_candidates_func
        ),
        n_startup_trials=n_startup,
        consider_running_trials=True,
        seed=seed,
        device=torch.device(device),
    )
