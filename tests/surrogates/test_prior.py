"""The lab's expectation as part of the GP mean (`PriorModel`, `PriorMean`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from surrogates import GPSurrogate, PriorModel, SurrogateError, fit_gp
from surrogates.exceptions import InputDataError

NAMES = ("energy", "other")


def _cliff(X: np.ndarray) -> np.ndarray:
    """A sharp, known shape: energy rises steeply towards x0 = 0.8, then falls."""
    return 200.0 * np.exp(-(((X[:, 0] - 0.8) / 0.08) ** 2)) + 40.0 * X[:, 1]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 2))
    energy = 1.3 * _cliff(X) + 25.0 + rng.normal(0.0, 3.0, n)  # scaled, offset
    other = 10.0 * X[:, 1] + rng.normal(0.0, 0.5, n)
    return X, np.column_stack([energy, other])


PRIOR = PriorModel(lambda X: _cliff(X)[:, None], ("energy",), name="tests:cliff")


def _rmse(sur: GPSurrogate, X: np.ndarray, truth: np.ndarray) -> float:
    with torch.no_grad():
        mean = sur.predict(torch.as_tensor(X))[0][:, 0].numpy()
    return float(np.sqrt(np.mean((mean - truth) ** 2)))


def test_a_right_shaped_prior_predicts_far_better_than_none() -> None:
    test = np.random.default_rng(9).random((400, 2))
    truth = 1.3 * _cliff(test) + 25.0
    for seed in (0, 1, 2):
        X, Y = _data(10, seed=seed)
        plain = fit_gp(X, Y, outcome_names=NAMES, seed=0, mean="quadratic")
        with_prior = fit_gp(
            X, Y, outcome_names=NAMES, seed=0, mean="quadratic", prior=PRIOR
        )
        # measured with 10 points: rmse 2-6 with the prior, 16-87 without
        assert _rmse(with_prior, test, truth) < 0.5 * _rmse(plain, test, truth)
    weights = with_prior.prior_weights()
    assert set(weights) == {"energy"}  # "other" has no expectation
    # the data are 1.3 x the expectation, and the weight is in natural units
    assert 1.1 < weights["energy"] < 1.5
    assert plain.prior_weights() == {}


def test_joint_model_list_model_and_reload_agree(tmp_path: Path) -> None:
    X, Y = _data(15, seed=1)
    sur = fit_gp(X, Y, outcome_names=NAMES, seed=0, mean="constant", prior=PRIOR)
    test = torch.rand(
        7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    mean, std = sur.predict(test)
    joint = sur.joint_model
    assert joint is not None
    with torch.no_grad():
        post = joint.posterior(test)
    torch.testing.assert_close(post.mean, mean)
    torch.testing.assert_close(post.variance.sqrt(), std)
    path = tmp_path / "sur.pt"
    sur.save(path)
    again = GPSurrogate.load(path, prior=PRIOR)
    torch.testing.assert_close(again.predict(test)[0], mean)
    with pytest.raises(
        SurrogateError,
        match=r"fitted with the prior 'tests:cliff' of \['energy'\]; pass",
    ):
        GPSurrogate.load(path)
    plain = fit_gp(X, Y, outcome_names=NAMES, seed=0)
    plain.save(tmp_path / "plain.pt")
    with pytest.raises(SurrogateError, match="fitted without a prior"):
        GPSurrogate.load(tmp_path / "plain.pt", prior=PRIOR)


def test_the_posterior_mean_gradient_includes_the_prior() -> None:
    X, Y = _data(15, seed=2)
    sur = fit_gp(X, Y, outcome_names=NAMES, seed=0, mean="quadratic", prior=PRIOR)
    x = torch.tensor([[0.75, 0.4]], dtype=torch.float64, requires_grad=True)
    sur.model.models[0].posterior(x).mean.sum().backward()
    assert x.grad is not None
    h = 1e-5
    with torch.no_grad():
        num = []
        for i in range(2):
            up, down = x.detach().clone(), x.detach().clone()
            up[0, i] += h
            down[0, i] -= h
            f = sur.model.models[0].posterior
            num.append(float((f(up).mean - f(down).mean).sum()) / (2 * h))
    np.testing.assert_allclose(x.grad.numpy()[0], num, rtol=1e-3, atol=1e-2)


def _plating(X: np.ndarray) -> np.ndarray:
    """68 above x0 = 0.3, about 0 below it: a cliff like the cell's plating."""
    return 68.0 / (1.0 + np.exp(-(X[:, 0] - 0.3) / 0.02))


@pytest.mark.parametrize("mean", ["constant", "quadratic"])
def test_an_expectation_flat_over_the_data_keeps_its_cliff_beyond_them(
    mean: str,
) -> None:
    # Every cell measured above the cliff, where the expectation is flat: the fit
    # cannot learn the cliff's depth, so it must keep the expectation's (in natural
    # units), not blow it up by the expectation's near-zero spread over the data
    # (it predicted 90-120 % retention below the cliff before the fix).
    prior = PriorModel(lambda X: _plating(X)[:, None], ("retention",), name="p")
    rng = np.random.default_rng(4)
    X = np.column_stack([0.5 + 0.5 * rng.random(20), rng.random(20)])
    Y = 60.0 + 15.0 * X[:, 1] + rng.normal(0.0, 2.0, 20)
    sur = fit_gp(X, Y[:, None], outcome_names=["retention"], mean=mean, prior=prior)
    below = np.column_stack([np.full(5, 0.1), np.linspace(0.0, 1.0, 5)])
    with torch.no_grad():
        mean_below = sur.predict(torch.as_tensor(below))[0][:, 0].numpy()
    expected = 60.0 + 15.0 * below[:, 1] - 68.0  # the data's trend, down the cliff
    assert np.all(np.abs(mean_below - expected) < 25.0), mean_below
    assert 0.5 < sur.prior_weights()["retention"] < 1.5  # stays near its prior, 1


@pytest.mark.parametrize(
    ("prior", "match"),
    [
        pytest.param(
            PriorModel(lambda X: X[:, :1], ("power",), name="p"),
            r"Prior 'p' covers \['power'\]; it must name each of some of the fitted",
            id="unknown-outcome",
        ),
        pytest.param(
            PriorModel(lambda X: X, ("energy",), name="p"),
            r"Prior 'p' returned shape \(12, 2\) for 12 inputs; expected \(12, 1\)",
            id="shape",
        ),
        pytest.param(
            PriorModel(lambda X: np.log(X[:, :1] - 2.0), ("energy",), name="p"),
            r"Prior 'p' returned a value that is not a finite number for \['energy'\]",
            id="nan",
        ),
    ],
)
def test_a_bad_prior_is_named(prior: PriorModel, match: str) -> None:
    X, Y = _data(12, seed=3)
    with pytest.raises(InputDataError, match=match), np.errstate(invalid="ignore"):
        fit_gp(X, Y, outcome_names=NAMES, prior=prior)
