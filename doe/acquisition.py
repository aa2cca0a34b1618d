"""BoTorch acquisition functions and their optimisation over the unit cube.

Built from objectives, outcome limits, pending points and a feasibility model.

Multi-objective: ``qLogNoisyExpectedHypervolumeImprovement`` [Ament2023logei]_ with
the objectives' thresholds as reference point. One objective:
``qLogNoisyExpectedImprovement``. Outcome limits enter as constraints on the MC
samples (smoothed by a sigmoid); failed experiments enter as a learnt probability of
feasibility whose log is added to the log-acquisition value.

.. [Ament2023logei] S. Ament et al., Unexpected Improvements to Expected Improvement
   for Bayesian Optimization. NeurIPS 2023.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import (
    WeightedMCMultiOutputObjective,
)
from botorch.acquisition.objective import LinearMCObjective
from botorch.optim import optimize_acqf
from botorch.sampling.normal import SobolQMCNormalSampler
from botorch.utils.transforms import t_batch_mode_transform
from torch import Tensor
from typing_extensions import override

__all__ = ["AcquisitionSettings", "Candidates", "LimitSpec", "optimize_candidates"]


@dataclass(frozen=True)
class AcquisitionSettings:
    """Knobs of the acquisition optimisation.

    Attributes:
        num_restarts: Multi-start L-BFGS-B restarts per candidate.
        raw_samples: Quasi-random points scored to pick the restarts.
        mc_samples: QMC samples of the posterior.
        maxiter: L-BFGS-B iterations per restart.
        device: ``"cpu"`` or ``"cuda"``.
    """

    num_restarts: int = 8
    raw_samples: int = 256
    mc_samples: int = 128
    maxiter: int = 100
    device: str = "cpu"


@dataclass(frozen=True)
class LimitSpec:
    """An outcome limit in model-output terms: ``sign * (Y[idx] - value) >= 0``."""

    index: int
    value: float
    sign: float  # +1 for ">=", -1 for "<="


@dataclass(frozen=True)
class Candidates:
    """Optimised candidates: `q x d` unit-cube points and the batch acquisition value."""

    X: np.ndarray
    acq_value: float
    seconds: float


class _FeasibilityWeighted(AcquisitionFunction):  # type: ignore[misc]  # untyped base
    """Log-acquisition plus the log-probability that every point of the batch builds."""

    def __init__(self, base: AcquisitionFunction, log_prob: Callable[[Tensor], Tensor]):
        super().__init__(model=base.model)
        self.base = base
        self._log_prob = log_prob

    @override
    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        self.base.set_X_pending(X_pending)

    @t_batch_mode_transform()  # type: ignore[misc]  # untyped decorator
    def forward(self, X: Tensor) -> Tensor:
        """`b x q x d` -> `b` log-acquisition values."""
        return self.base(X) + self._log_prob(X).sum(dim=-1)


def _constraints(limits: Sequence[LimitSpec]) -> list[Callable[[Tensor], Tensor]]:
    # BoTorch convention: constraint(Z) <= 0 means feasible.
    return [
        (lambda Z, s=spec: -s.sign * (Z[..., s.index] - s.value)) for spec in limits
    ]


def build_acquisition(
    model: Any,
    *,
    objective_index: Sequence[int],
    signs: Sequence[float],
    ref_point: Sequence[float] | None,
    limits: Sequence[LimitSpec],
    X_baseline: Tensor,
    X_pending: Tensor | None,
    log_feasibility: Callable[[Tensor], Tensor] | None,
    seed: int,
    settings: AcquisitionSettings,
) -> AcquisitionFunction:
    """The log-acquisition function for the campaign's objectives.

    Args:
        model: A fitted BoTorch model over all outcomes (natural units).
        objective_index: Model outputs that are objectives, in objective order.
        signs: +1 to maximise, -1 to minimise, per objective.
        ref_point: Reference point in signed (maximisation) units, per objective;
            required with several objectives.
        limits: Outcome limits on model outputs.
        X_baseline: `n x d` measured inputs.
        X_pending: `p x d` inputs being measured now, or None.
        log_feasibility: `... x d -> ...` log-probability of a successful build.
        seed: Seed of the QMC sampler.
        settings: Sample counts.

    Returns:
        An acquisition function of `b x q x d` inputs.
    """
    sampler = SobolQMCNormalSampler(torch.Size([settings.mc_samples]), seed=seed)
    tkw = {"dtype": X_baseline.dtype, "device": X_baseline.device}
    constraints = _constraints(limits) or None
    acqf: AcquisitionFunction
    if len(objective_index) == 1:
        weights = torch.zeros(model.num_outputs, **tkw)
        weights[objective_index[0]] = float(signs[0])
        acqf = qLogNoisyExpectedImprovement(
            model=model,
            X_baseline=X_baseline,
            sampler=sampler,
            objective=LinearMCObjective(weights),
            constraints=constraints,
            X_pending=X_pending,
            prune_baseline=True,
            cache_root=False,
        )
    else:
        if ref_point is None:
            raise ValueError("ref_point is required with several objectives")
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=torch.as_tensor(list(ref_point), **tkw),
            X_baseline=X_baseline,
            sampler=sampler,
            objective=WeightedMCMultiOutputObjective(
                weights=torch.as_tensor(list(signs), **tkw),
                outcomes=list(objective_index),
            ),
            constraints=constraints,
            X_pending=X_pending,
            prune_baseline=True,
            cache_root=False,
        )
    if log_feasibility is not None:
        acqf = _FeasibilityWeighted(acqf, log_feasibility)
    return acqf


def optimize_candidates(
    acqf: AcquisitionFunction,
    *,
    dim: int,
    q: int,
    seed: int,
    settings: AcquisitionSettings,
) -> Candidates:
    """Optimise ``q`` candidates in the unit cube (sequential greedy).

    Args:
        acqf: The acquisition function.
        dim: Input dimension `d`.
        q: Number of candidates.
        seed: Seed of the restarts.
        settings: Restart and iteration counts.

    Returns:
        The candidates and the joint acquisition value of the batch.
    """
    start = time.perf_counter()
    tkw = {"dtype": torch.float64, "device": torch.device(settings.device)}
    bounds = torch.stack([torch.zeros(dim, **tkw), torch.ones(dim, **tkw)])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        X, value = optimize_acqf(
            acqf,
            bounds=bounds,
            q=q,
            num_restarts=settings.num_restarts,
            raw_samples=settings.raw_samples,
            sequential=True,
            options={"maxiter": settings.maxiter, "batch_limit": settings.num_restarts},
        )
    acq_value = float(value.sum()) if value.numel() else float("nan")
    return Candidates(
        X=X.detach().cpu().numpy(),
        acq_value=acq_value,
        seconds=time.perf_counter() - start,
    )
