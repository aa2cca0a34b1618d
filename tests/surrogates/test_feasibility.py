"""Feasibility model: learns where experiments fail, differentiable log-probability."""

from __future__ import annotations

import math

import pytest
import torch

from surrogates import FeasibilityModel, fit_feasibility
from surrogates.exceptions import InputDataError, InputShapeError


@pytest.fixture(name="X")
def fixture_X() -> torch.Tensor:
    return torch.rand(30, 2, generator=torch.Generator().manual_seed(0)).double()


@pytest.fixture(name="model", scope="module")
def fixture_model() -> FeasibilityModel:
    """Trials with x0 > 0.7 fail (failed build); immutable, so shared."""
    X = torch.quasirandom.SobolEngine(2, scramble=True, seed=0).draw(24).double()
    return fit_feasibility(X, X[:, 0] <= 0.7, seed=0, maxiter=60)


def _at(x0: float) -> torch.Tensor:
    return torch.tensor([[x0, 0.5]], dtype=torch.float64)


def test_learns_where_trials_fail(model: FeasibilityModel) -> None:
    assert not model.is_constant
    assert model.n == 24
    assert model.n_failed == 7
    assert float(model.prob(_at(0.9))) < 0.3
    assert float(model.prob(_at(0.2))) > 0.7


def test_log_prob_is_differentiable(model: FeasibilityModel) -> None:
    X = torch.tensor([[0.6, 0.3], [0.75, 0.6]], dtype=torch.float64)
    X.requires_grad_(True)
    model.log_prob(X).sum().backward()
    assert X.grad is not None
    assert bool(torch.isfinite(X.grad).all())
    assert float(X.grad.abs().max()) > 0.0
    step = 1e-6  # central finite differences agree with autograd
    for i, j in [(0, 0), (1, 0), (1, 1)]:
        shift = torch.zeros_like(X)
        shift[i, j] = step
        with torch.no_grad():
            upper, lower = model.log_prob(X + shift), model.log_prob(X - shift)
        numeric = float((upper[i] - lower[i]) / (2 * step))
        assert float(X.grad[i, j]) == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_hyperparameters_are_frozen(model: FeasibilityModel) -> None:
    assert model.surrogate is not None
    assert not any(p.requires_grad for p in model.surrogate.model.parameters())
    assert not model.prob(_at(0.2)).requires_grad


def test_log_prob_and_prob_agree_and_keep_batch_shape(model: FeasibilityModel) -> None:
    X = torch.rand(4, 3, 2, generator=torch.Generator().manual_seed(1)).double()
    log_p = model.log_prob(X)
    assert log_p.shape == (4, 3)
    assert bool((log_p <= 0).all())
    torch.testing.assert_close(model.prob(X), log_p.exp())
    assert model.log_prob(torch.tensor([0.2, 0.5]).double()).shape == ()


def test_log_prob_keeps_float32_inputs(model: FeasibilityModel) -> None:
    assert model.log_prob(_at(0.2).float()).dtype == torch.float32


def test_wrong_dimension_is_reported(model: FeasibilityModel) -> None:
    with pytest.raises(InputShapeError, match=r"d=2\. Got shape \(5, 3\)"):
        model.log_prob(torch.rand(5, 3).double())


def test_no_failures_gives_probability_one(X: torch.Tensor) -> None:
    model = fit_feasibility(X, torch.ones(30, dtype=torch.bool))
    assert model.is_constant
    assert model.n_failed == 0
    X_req = X[:3].clone().requires_grad_(True)
    log_p = model.log_prob(X_req)
    torch.testing.assert_close(log_p, torch.zeros(3).double())
    log_p.sum().backward()  # constant, but still part of the graph
    assert X_req.grad is not None


def test_all_failed_gives_small_constant_and_says_so(X: torch.Tensor) -> None:
    model = fit_feasibility(X, [False] * 30)
    assert model.is_constant
    assert model.n_failed == 30
    assert float(model.prob(X[:1])) == pytest.approx(0.5 / 31)
    assert any("All 30 trials failed" in w for w in model.warnings)


def test_constant_model() -> None:
    model = FeasibilityModel.constant(0.8)
    assert float(model.log_prob(torch.rand(2, 5))[0]) == pytest.approx(math.log(0.8))
    with pytest.raises(InputDataError, match=r"in \(0, 1\]\. Got p=0"):
        FeasibilityModel.constant(0.0)


def test_labels_must_match_rows_and_be_boolean(X: torch.Tensor) -> None:
    with pytest.raises(InputShapeError, match=r"same number of rows\. Got 30 and 29"):
        fit_feasibility(X, torch.ones(29, dtype=torch.bool))
    with pytest.raises(
        InputShapeError, match=r"1-d vector of bools\. Got shape \(30, 1\)"
    ):
        fit_feasibility(X, torch.ones(30, 1, dtype=torch.bool))
    with pytest.raises(InputDataError, match=r"bools \(or 0/1\)\. Got dtype float64"):
        fit_feasibility(X, torch.full((30,), 0.5).double())


def test_zero_one_labels_are_accepted(X: torch.Tensor) -> None:
    model = fit_feasibility(X, (X[:, 0] <= 0.7).int().tolist(), seed=0, maxiter=30)
    assert model.n_failed == int((X[:, 0] > 0.7).sum())
