"""The analytic log-EHVI: equal to BoTorch's Monte Carlo qLogEHVI, exact gradients."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition.multi_objective.logei import (
    qLogExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import (
    WeightedMCMultiOutputObjective,
)
from botorch.sampling.normal import SobolQMCNormalSampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    FastNondominatedPartitioning,
)

from doe.acquisition import LimitSpec, LogEHVI, _fantasize, _log_ehvi, _not_implied
from surrogates import fit_gp

SIGNS = [1.0, -1.0]  # maximise the first outcome, minimise the second
REF = [0.0, -3.0]  # signed: first >= 0, second <= 3


@pytest.fixture(scope="module", name="surrogate")
def fixture_surrogate():
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(24, 3, generator=gen, dtype=torch.float64)
    Y = torch.stack(
        [
            torch.sin(3 * X[:, 0]) + X[:, 1],
            1.0 + X[:, 0] ** 2 + 0.5 * X[:, 2],
            X.sum(-1),  # a third output that is neither objective (a limit, say)
        ],
        dim=-1,
    )
    return X, fit_gp(X, Y, outcome_names=["a", "b", "c"], seed=0, maxiter=60)


def _mc_reference(
    model, X_baseline: torch.Tensor
) -> qLogExpectedHypervolumeImprovement:
    weights = torch.tensor(SIGNS, dtype=torch.float64)
    with torch.no_grad():
        Y = model.posterior(X_baseline).mean[:, :2] * weights
    ref = torch.tensor(REF, dtype=torch.float64)
    return qLogExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref,
        partitioning=FastNondominatedPartitioning(ref_point=ref, Y=Y),
        sampler=SobolQMCNormalSampler(torch.Size([8192]), seed=0),
        objective=WeightedMCMultiOutputObjective(weights=weights, outcomes=[0, 1]),
    )


def _acqf(model, X: torch.Tensor, limits=()):
    return _log_ehvi(
        model,
        objective_index=[0, 1],
        signs=SIGNS,
        ref_point=REF,
        limits=list(limits),
        X_baseline=X,
    )


def test_log_ehvi_equals_monte_carlo_qlogehvi(surrogate) -> None:
    X, sur = surrogate
    analytic = _acqf(sur.model, X)
    assert isinstance(analytic, LogEHVI)
    Xt = torch.rand(
        256, 1, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    with torch.no_grad():
        exact, mc = analytic(Xt), _mc_reference(sur.model, X)(Xt)
    informative = mc > -8  # far below the front MC and its smoothing disagree
    assert informative.sum() >= 16
    assert torch.allclose(exact[informative], mc[informative], atol=0.03)
    # the joint (batched) model is the same GPs: the same values
    joint = _acqf(sur.joint_model, X)
    with torch.no_grad():
        assert torch.allclose(joint(Xt), exact, atol=1e-8)


def test_log_ehvi_gradient_matches_finite_differences(surrogate) -> None:
    X, sur = surrogate
    acqf = _acqf(sur.joint_model, X, limits=[LimitSpec(index=2, value=1.0, sign=1.0)])
    gen = torch.Generator().manual_seed(2)
    for _ in range(10):
        x = torch.rand(1, 1, 3, generator=gen, dtype=torch.float64, requires_grad=True)
        acqf(x).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        fd = torch.zeros(3, dtype=torch.float64)
        for j in range(3):
            step = torch.zeros_like(x)
            step[..., j] = 1e-6
            with torch.no_grad():
                fd[j] = (acqf(x + step) - acqf(x - step)).item() / 2e-6
        assert torch.allclose(x.grad.reshape(-1), fd, rtol=1e-4, atol=1e-6)


def test_a_limit_lowers_the_value_by_its_log_probability(surrogate) -> None:
    X, sur = surrogate
    kwargs = dict(objective_index=[0, 1], signs=SIGNS, ref_point=REF, X_baseline=X)
    limit = LimitSpec(index=2, value=1.5, sign=1.0)  # c >= 1.5
    bound = _log_ehvi(sur.joint_model, limits=[limit], **kwargs)
    free = LogEHVI(  # the same front (points breaking the limit left out), no limit
        sur.joint_model,
        objective_index=[0, 1],
        signs=SIGNS,
        cell_lower=bound.cell_lower,
        cell_upper=bound.cell_upper,
    )
    Xt = torch.rand(
        8, 1, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    with torch.no_grad():
        post = sur.joint_model.posterior(Xt)
        z = (post.mean[..., 2] - 1.5) / post.variance[..., 2].sqrt()
        expected = free(Xt) + torch.special.log_ndtr(z.squeeze(-1))
        assert torch.allclose(bound(Xt), expected, atol=1e-10)


def test_limits_implied_by_the_reference_point_are_not_counted_twice() -> None:
    # objective 0 maximised with threshold 70: a ">= 70" limit on it is implied
    implied = LimitSpec(index=0, value=70.0, sign=1.0)
    stricter = LimitSpec(index=0, value=75.0, sign=1.0)
    other_output = LimitSpec(index=2, value=1.0, sign=-1.0)
    kept = _not_implied(
        [implied, stricter, other_output],
        objective_index=[0, 1],
        signs=[1.0, -1.0],
        ref_point=[70.0, -3.0],
    )
    assert kept == [stricter, other_output]
    # minimised objective 1 with threshold 3 (signed -3): "<= 3" is implied
    assert (
        _not_implied(
            [LimitSpec(index=1, value=3.0, sign=-1.0)],
            objective_index=[0, 1],
            signs=[1.0, -1.0],
            ref_point=[70.0, -3.0],
        )
        == []
    )


def test_fantasies_of_the_joint_and_list_models_agree(surrogate) -> None:
    _, sur = surrogate
    pending = torch.rand(
        3, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    Xt = torch.rand(
        6, 1, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64
    )
    a, b = _fantasize(sur.model, pending), _fantasize(sur.joint_model, pending)
    with torch.no_grad():
        pa, pb = a.posterior(Xt), b.posterior(Xt)
        assert torch.allclose(pa.mean, pb.mean, atol=1e-8)
        assert torch.allclose(pa.variance, pb.variance, atol=1e-8)
        # believing the mean at a pending point shrinks the variance there
        before = sur.model.posterior(pending.unsqueeze(-2)).variance
        after = a.posterior(pending.unsqueeze(-2)).variance
        assert (after < before).all()


def test_fantasies_of_fixed_noise_models_use_the_known_noise() -> None:
    gen = torch.Generator().manual_seed(6)
    X = torch.rand(15, 2, generator=gen, dtype=torch.float64)
    Y = torch.stack([X.sum(-1), X[:, 0] * X[:, 1]], dim=-1)
    sur = fit_gp(
        X,
        Y,
        outcome_names=["a", "b"],
        train_Yvar=torch.full_like(Y, 0.05**2),
        seed=0,
        maxiter=40,
    )
    pending = torch.rand(2, 2, generator=gen, dtype=torch.float64)
    for model in (sur.model, sur.joint_model):
        fantasy = _fantasize(model, pending)
        with torch.no_grad():
            post = fantasy.posterior(pending.unsqueeze(-2))
            before = model.posterior(pending.unsqueeze(-2))
        # believed with noise sd 0.05: the variance shrinks, but not to nothing
        assert (post.variance < before.variance).all()
        assert (post.variance > 0.05**2 / 20).all()
        assert torch.allclose(post.mean, before.mean, atol=1e-6)
