"""Leave-one-out cross-validation: quality on known cases, and the closed form."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from surrogates import GPSurrogate, LOOPredictions, LOOResult, fit_gp, loo_predictions
from surrogates.diagnostics import summarize_loo


def _fit_1d(
    Y: torch.Tensor, X: torch.Tensor, train_Yvar: torch.Tensor | None = None
) -> GPSurrogate:
    return fit_gp(X, Y, outcome_names=["y"], train_Yvar=train_Yvar, seed=0, maxiter=60)


@pytest.fixture(name="X_1d")
def fixture_X_1d() -> torch.Tensor:
    return torch.rand(20, 1, generator=torch.Generator().manual_seed(1)).double()


def test_smooth_function_is_predicted_and_calibrated(X_1d: torch.Tensor) -> None:
    noise = 0.02 * torch.randn(20, 1, generator=torch.Generator().manual_seed(2))
    sur = _fit_1d(torch.sin(6 * X_1d) + noise.double(), X_1d)
    result = sur.loo_cv()["y"]
    assert isinstance(result, LOOResult)
    assert result.n == 20
    assert result.r2 > 0.9
    assert 0.8 <= result.coverage_95 <= 1.0
    assert result.rmse < 0.2


def test_pure_noise_has_low_r2() -> None:
    generator = torch.Generator().manual_seed(3)
    X = torch.rand(25, 2, generator=generator).double()
    Y = torch.randn(25, 1, generator=generator).double()
    result = fit_gp(X, Y, outcome_names=["y"], seed=0, maxiter=60).loo_cv()["y"]
    assert result.r2 < 0.3


def _brute_force_loo(sur: GPSurrogate) -> tuple[torch.Tensor, torch.Tensor]:
    """LOO by conditioning a copy of the fitted GP on the other n - 1 points."""
    gp = sur.model.models[0]
    X_t, y_t = gp.train_inputs[0], gp.train_targets  # transformed / standardised
    means, variances = [], []
    for i in range(X_t.shape[0]):
        keep = torch.arange(X_t.shape[0]) != i
        held_out = copy.deepcopy(gp)
        held_out.set_train_data(X_t[keep], y_t[keep], strict=False)
        with torch.no_grad():
            post = held_out.posterior(X_t[i : i + 1], observation_noise=True)
        means.append(post.mean.reshape(()))
        variances.append(post.variance.reshape(()))
    return torch.stack(means), torch.stack(variances)


def test_closed_form_equals_conditioning_on_the_other_points(
    X_1d: torch.Tensor,
) -> None:
    sur = _fit_1d(torch.cos(4 * X_1d[:10]), X_1d[:10])
    pred = loo_predictions(sur.model, sur.outcome_names)["y"]
    mean, variance = _brute_force_loo(sur)
    torch.testing.assert_close(pred.mean, mean, atol=1e-6, rtol=0.0)
    torch.testing.assert_close(pred.variance, variance, atol=1e-6, rtol=0.0)
    torch.testing.assert_close(pred.y, sur.train_Y[:, 0], atol=1e-9, rtol=0.0)


def test_closed_form_with_known_noise_equals_explicit_solve(
    X_1d: torch.Tensor,
) -> None:
    X, Yvar = X_1d[:9], torch.linspace(1e-4, 1e-2, 9).double().unsqueeze(-1)
    sur = _fit_1d(torch.sin(5 * X), X, train_Yvar=Yvar)
    gp = sur.model.models[0]
    tf = gp.outcome_transform
    with torch.no_grad():
        K = gp.covar_module(gp.train_inputs[0]).to_dense()
        prior_mean = float(gp.mean_module(gp.train_inputs[0])[0])
        noise, y = gp.likelihood.noise, gp.train_targets
    pred = loo_predictions(sur.model, ["y"])["y"]
    for i in range(9):
        keep = torch.arange(9) != i
        A = K[keep][:, keep] + torch.diag(noise[keep])
        k = K[keep, i]
        mu = prior_mean + k @ torch.linalg.solve(A, y[keep] - prior_mean)
        var = K[i, i] + noise[i] - k @ torch.linalg.solve(A, k)
        expected_mu = float(mu * tf.stdvs.squeeze() + tf.means.squeeze())
        expected_var = float(var * tf.stdvs.squeeze() ** 2)
        assert float(pred.mean[i]) == pytest.approx(expected_mu, abs=1e-6)
        assert float(pred.variance[i]) == pytest.approx(expected_var, abs=1e-6)


def test_loo_on_float32_model_is_computed_in_float64(X_1d: torch.Tensor) -> None:
    sur = fit_gp(
        X_1d.float(), torch.sin(6 * X_1d).float(), outcome_names=["y"], dtype=torch.float32,
        seed=0, maxiter=60,
    )  # fmt: skip
    pred = loo_predictions(sur.model, ["y"])["y"]
    assert pred.mean.dtype == torch.float64
    assert sur.loo_cv()["y"].r2 > 0.9


def test_summary_of_constant_outcome_has_nan_r2() -> None:
    ones = torch.ones(4, dtype=torch.float64)
    pred = LOOPredictions(y=ones, mean=ones, variance=ones)
    result = summarize_loo(pred)
    assert math.isnan(result.r2)
    assert result.coverage_95 == 1.0
    assert result.rmse == 0.0
