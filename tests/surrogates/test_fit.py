"""`fit_gp`: awkward data, known noise, validation messages, retries, devices."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import OptimizationWarning
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood

import surrogates.fit
from surrogates import (
    DeviceUnavailableError,
    FitError,
    GPSurrogate,
    InputDataError,
    InputShapeError,
    NotEnoughDataError,
    SurrogateError,
    fit_gp,
)

MAXITER = 40


@pytest.fixture(name="X")
def fixture_X() -> torch.Tensor:
    return torch.rand(12, 2, generator=torch.Generator().manual_seed(0)).double()


@pytest.fixture(name="Y")
def fixture_Y(X: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.sin(4 * X[:, 0]), X[:, 0] + 2 * X[:, 1]], dim=-1)


def _fit(X: Any, Y: Any, **kwargs: Any) -> GPSurrogate:
    kwargs = {"outcome_names": ["a", "b"], "seed": 0, "maxiter": MAXITER} | kwargs
    return fit_gp(X, Y, **kwargs)


def test_nan_outcome_rows_are_fitted_per_outcome(
    X: torch.Tensor, Y: torch.Tensor
) -> None:
    Y = Y.clone()
    Y[:5, 1] = math.nan
    sur = _fit(X, Y)
    assert sur.model.models[0].train_targets.shape == (12,)
    assert sur.model.models[1].train_targets.shape == (7,)
    mean, std = sur.predict(X)
    assert bool(torch.isfinite(mean).all() and torch.isfinite(std).all())
    assert sur.loo_cv()["b"].n == 7
    assert torch.isnan(sur.train_Y[:5, 1]).all()  # the caller's data, unchanged
    assert sur.joint_model is None  # different rows per outcome: no batched model


def test_outcome_with_one_measured_row_is_not_enough(
    X: torch.Tensor, Y: torch.Tensor
) -> None:
    Y = Y.clone()
    Y[1:, 1] = math.nan
    with pytest.raises(NotEnoughDataError, match=r"Outcome 'b' has 1 measured rows"):
        _fit(X, Y)


def test_no_rows_at_all_is_not_enough() -> None:
    with pytest.raises(NotEnoughDataError, match=r"Outcome 'a' has 0 measured rows"):
        fit_gp(torch.empty(0, 2), torch.empty(0, 1), outcome_names=["a"])


def test_constant_outcome_fits_and_warns(X: torch.Tensor, Y: torch.Tensor) -> None:
    Y = Y.clone()
    Y[:, 1] = 4.2
    sur = _fit(X, Y)
    assert any(
        "Outcome 'b' is constant (4.2 on all 12 rows)" in w for w in sur.warnings
    )
    mean, _ = sur.predict(torch.rand(4, 2).double())
    torch.testing.assert_close(mean[:, 1], torch.full((4,), 4.2).double())


def test_duplicate_rows_are_fine(X: torch.Tensor, Y: torch.Tensor) -> None:
    sur = _fit(torch.cat([X, X[:4]]), torch.cat([Y, Y[:4] + 0.01]))
    assert sur.train_X.shape == (16, 2)
    assert bool(torch.isfinite(sur.predict(X)[0]).all())


def test_known_noise_is_used_as_fixed_noise(X: torch.Tensor, Y: torch.Tensor) -> None:
    Yvar = torch.full_like(Y, math.nan)
    Yvar[:, 0] = 0.01**2  # outcome a: known noise; outcome b: inferred
    sur = _fit(X, Y, train_Yvar=Yvar)
    assert isinstance(sur.model.models[0].likelihood, FixedNoiseGaussianLikelihood)
    assert not isinstance(sur.model.models[1].likelihood, FixedNoiseGaussianLikelihood)
    assert sur.noise()["a"] == pytest.approx(0.01, rel=1e-6)
    assert sur.warnings == ()
    assert sur.joint_model is None  # one fixed, one inferred: fitted apart
    both = _fit(X, Y, train_Yvar=torch.full_like(Y, 0.01**2))
    assert isinstance(both.joint_model.likelihood, FixedNoiseGaussianLikelihood)
    assert both.noise() == pytest.approx({"a": 0.01, "b": 0.01}, rel=1e-6)


def test_partly_known_noise_is_filled_with_the_median(
    X: torch.Tensor, Y: torch.Tensor
) -> None:
    Yvar = torch.full_like(Y, 0.04)
    Yvar[:3, 0] = math.nan
    sur = _fit(X, Y, train_Yvar=Yvar)
    assert any("Outcome 'a': 3 of 12 measured rows" in w for w in sur.warnings)
    assert sur.noise()["a"] == pytest.approx(0.2, rel=1e-6)


def test_known_noise_survives_save_and_load(
    X: torch.Tensor, Y: torch.Tensor, tmp_path: Path
) -> None:
    sur = _fit(X, Y, train_Yvar=torch.full_like(Y, 1e-3))
    sur.save(tmp_path / "noisy.pt")
    loaded = GPSurrogate.load(tmp_path / "noisy.pt")
    torch.testing.assert_close(loaded.predict(X), sur.predict(X), rtol=0.0, atol=0.0)


def _scattered(n: int = 40, sd: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth trend in 3 inputs plus measurement scatter of ``sd``."""
    g = torch.Generator().manual_seed(5)
    X = torch.rand(n, 3, generator=g).double()
    trend = X.sum(-1, keepdim=True)
    return X, trend + sd * torch.randn(n, 1, generator=g).double()


def test_noise_share_lets_the_fit_see_the_scatter() -> None:
    X, Y = _scattered()
    default = fit_gp(X, Y, outcome_names=["y"], seed=0).noise()["y"]
    shared = fit_gp(X, Y, outcome_names=["y"], seed=0, noise_share=0.6).noise()["y"]
    # BoTorch's prior (median 0.14 of the spread) takes the scatter for signal.
    # Measured on this seed: 0.055 against 0.49 with noise_share, the scatter 0.5.
    assert default < 0.15
    assert 0.35 < shared < 0.65


def test_noise_share_leaves_known_noise_alone() -> None:
    X, Y = _scattered()
    Yvar = torch.full_like(Y, 0.5**2)
    known = fit_gp(X, Y, outcome_names=["y"], seed=0, train_Yvar=Yvar)
    both = fit_gp(X, Y, outcome_names=["y"], seed=0, train_Yvar=Yvar, noise_share=0.1)
    torch.testing.assert_close(both.predict(X), known.predict(X))


@pytest.mark.parametrize("bad", [0.0, -0.5, 11.0, math.nan, True, "0.6"])
def test_bad_noise_share_is_named(X: torch.Tensor, Y: torch.Tensor, bad: Any) -> None:
    with pytest.raises(InputDataError, match=r"noise_share must be a number in"):
        _fit(X, Y, noise_share=bad)


def test_bounds_normalise_inputs(X: torch.Tensor, Y: torch.Tensor) -> None:
    bounds = torch.tensor([[10.0, -1.0], [20.0, 1.0]]).double()
    X_natural = bounds[0] + X * (bounds[1] - bounds[0])
    on_cube = _fit(X, Y)
    on_bounds = _fit(X_natural, Y, bounds=bounds)
    torch.testing.assert_close(
        on_bounds.predict(X_natural)[0], on_cube.predict(X)[0], atol=1e-6, rtol=1e-6
    )


@pytest.mark.parametrize(
    ("X_shape", "Y_shape", "names", "pattern"),
    [
        pytest.param((12, 2), (11, 2), ["a", "b"], r"same number of rows\. Got 12 and 11", id="rows"),
        pytest.param((12, 2), (12, 2), ["a", "b", "c"], r"2 columns but outcome_names has 3", id="m"),
        pytest.param((12, 2), (12,), ["a"], r"train_Y must be a 2-d .*reshape\(-1, 1\)", id="1d-Y"),
        pytest.param((12,), (12, 1), ["a"], r"train_X must be a 2-d", id="1d-X"),
    ],
)  # fmt: skip
def test_shape_mismatches_are_reported(
    X_shape: tuple[int, ...], Y_shape: tuple[int, ...], names: list[str], pattern: str
) -> None:
    with pytest.raises(InputShapeError, match=pattern):
        fit_gp(torch.rand(X_shape), torch.rand(Y_shape), outcome_names=names)


def test_inputs_outside_the_unit_cube_are_reported(
    X: torch.Tensor, Y: torch.Tensor
) -> None:
    X = X.clone()
    X[1, 0] = 1.5
    pattern = r"unit cube .* expected train_X\[:, 0\] in \[0\.0, 1\.0\]\. Got train_X\[1, 0\]=1\.5"
    with pytest.raises(InputShapeError, match=pattern):
        _fit(X, Y)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        pytest.param({"Y_value": math.inf}, r"train_Y must be NaN .* or finite\. Got train_Y\[0, 0\]=inf", id="inf-Y"),
        pytest.param({"X_value": math.nan}, r"train_X must be finite\. Got train_X\[0, 0\]=nan", id="nan-X"),
        pytest.param({"Yvar": -1.0}, r"must be >= 0 .* Got train_Yvar\[0, 0\]=-1\.0", id="neg-Yvar"),
        pytest.param({"outcome_names": ["a", "a"]}, r"unique\. Got \['a', 'a'\]", id="dup-names"),
        pytest.param({"dtype": torch.float16}, r"float64 or torch\.float32\. Got dtype=torch\.float16", id="dtype"),
        pytest.param({"maxiter": 0}, r"positive integer\. Got maxiter=0", id="maxiter"),
        pytest.param({"num_threads": 0}, r"positive integer\. Got num_threads=0", id="threads"),
        pytest.param({"bounds": [[0.0, 1.0], [0.0, 1.0]]}, r"lower < upper", id="bounds"),
    ],
)  # fmt: skip
def test_bad_values_are_reported(
    X: torch.Tensor, Y: torch.Tensor, change: dict[str, Any], pattern: str
) -> None:
    X, Y = X.clone(), Y.clone()
    X[0, 0] = change.pop("X_value", X[0, 0])
    Y[0, 0] = change.pop("Y_value", Y[0, 0])
    if "Yvar" in change:
        Yvar = torch.full_like(Y, 0.1)
        Yvar[0, 0] = change.pop("Yvar")
        change["train_Yvar"] = Yvar
    with pytest.raises(InputDataError, match=pattern):
        _fit(X, Y, **change)


def test_cuda_unavailable_is_a_clear_error(
    X: torch.Tensor, Y: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pattern = (
        r"device='cuda' was asked for but no CUDA device is available; "
        r"use device='cpu'\."
    )
    with pytest.raises(SurrogateError, match=pattern) as info:
        _fit(X, Y, device="cuda")
    assert isinstance(info.value, DeviceUnavailableError)


def test_unknown_device_is_rejected(X: torch.Tensor, Y: torch.Tensor) -> None:
    with pytest.raises(InputDataError, match=r"'cpu' or 'cuda'\. Got device='meta'"):
        _fit(X, Y, device="meta")


def test_fit_failing_twice_raises_fit_error_with_cause(
    X: torch.Tensor, Y: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("optimiser exploded")

    monkeypatch.setattr(surrogates.fit, "fit_gpytorch_mll", broken)
    pattern = r"outcome 'a' failed twice\. First attempt: .*optimiser exploded"
    with pytest.raises(FitError, match=pattern) as info:
        _fit(X, Y)
    assert isinstance(info.value, RuntimeError)
    assert info.value.__cause__ is not None
    assert "optimiser exploded" in str(info.value.__cause__.__cause__)


def test_non_convergence_is_explained_in_the_fit_error(
    X: torch.Tensor, Y: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_converging(*args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "ABNORMAL_TERMINATION_IN_LNSRCH", OptimizationWarning, stacklevel=1
        )
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(surrogates.fit, "fit_gpytorch_mll", not_converging)
    with pytest.raises(
        FitError, match=r"OptimizationWarning: ABNORMAL_TERMINATION"
    ) as info:
        _fit(X, Y)
    assert isinstance(info.value.__cause__, FitError)
    assert isinstance(info.value.__cause__.__cause__, ModelFittingError)


def test_fit_failing_once_is_retried_and_reported(
    X: torch.Tensor, Y: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = surrogates.fit.fit_gpytorch_mll
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("transient")
        return real(*args, **kwargs)

    monkeypatch.setattr(surrogates.fit, "fit_gpytorch_mll", flaky)
    sur = _fit(X, Y)
    assert len(calls) == 4  # joint: fail; then a: fail + retry, b: once
    assert any(w.startswith("joint fit of all outcomes failed") for w in sur.warnings)
    assert any(
        w.startswith("Outcome 'a': first fit attempt failed") and "retry succeeded" in w
        for w in sur.warnings
    )


def test_outcomes_on_the_same_rows_are_fitted_jointly(
    X: torch.Tensor, Y: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = surrogates.fit.fit_gpytorch_mll
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(surrogates.fit, "fit_gpytorch_mll", counted)
    joint = _fit(X, Y, maxiter=200)
    assert len(calls) == 1  # one batched fit for both outcomes
    assert joint.joint_model is not None
    # the same optimum as fitting each outcome on its own
    Xt = torch.rand(20, 2, generator=torch.Generator().manual_seed(3)).double()
    mean_joint, _ = joint.predict(Xt)
    for j, name in enumerate(["a", "b"]):
        alone = _fit(X, Y[:, j : j + 1], outcome_names=[name], maxiter=200)
        assert alone.joint_model is None  # one outcome: nothing to batch
        mean_alone, _ = alone.predict(Xt)
        gap = (mean_joint[:, j] - mean_alone[:, 0]).abs().max() / Y[:, j].std()
        assert gap < 0.02, (name, float(gap))
    assert len(calls) == 3
    # the batched model predicts exactly what the per-outcome models do
    post = joint.joint_model.posterior(Xt.unsqueeze(-2))
    mean, std = joint.predict(Xt)
    assert torch.allclose(post.mean.squeeze(-2), mean, atol=1e-9)
    assert torch.allclose(post.variance.squeeze(-2).sqrt(), std, atol=1e-9)


def test_fit_restores_torch_threads(X: torch.Tensor, Y: torch.Tensor) -> None:
    before = torch.get_num_threads()
    _fit(X, Y, num_threads=1)
    assert torch.get_num_threads() == before


def test_seeded_fit_leaves_the_global_random_state_alone(
    X: torch.Tensor, Y: torch.Tensor
) -> None:
    state = torch.random.get_rng_state()
    _fit(X, Y)
    assert torch.equal(state, torch.random.get_rng_state())


def test_warm_start_from_a_previous_surrogate(X: torch.Tensor, Y: torch.Tensor) -> None:
    previous = _fit(X[:10], Y[:10])
    cold = _fit(X, Y)
    warm = _fit(X, Y, warm_start=previous)
    torch.testing.assert_close(
        warm.predict(X)[0], cold.predict(X)[0], atol=1e-2, rtol=0
    )
    with pytest.raises(InputDataError, match="warm_start must be a GPSurrogate"):
        _fit(X, Y, warm_start="last round")


def test_error_tree() -> None:
    assert issubclass(NotEnoughDataError, SurrogateError)
    assert issubclass(NotEnoughDataError, ValueError)
    assert issubclass(FitError, RuntimeError)
    assert issubclass(InputShapeError, ValueError)
    assert issubclass(InputShapeError, SurrogateError)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda(X: torch.Tensor, Y: torch.Tensor, tmp_path: Path) -> None:
    sur = _fit(X, Y, device="cuda")
    assert sur.device.type == "cuda"
    mean, std = sur.predict(X)
    assert mean.device.type == "cuda" and std.device.type == "cuda"
    sur.save(tmp_path / "gpu.pt")
    on_cpu = GPSurrogate.load(tmp_path / "gpu.pt", device="cpu")
    torch.testing.assert_close(on_cpu.predict(X.cpu())[0], mean.cpu())
    assert set(sur.loo_cv()) == {"a", "b"}
