"""Conformance suite of `GPSurrogate`: fit, shapes, dtype, refit, serialization."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.models import ModelListGP

from surrogates import FORMAT_VERSION, GPSurrogate, SurrogateError, fit_gp
from surrogates.exceptions import InputShapeError

N_TRAIN, DIM = 14, 2
NAMES = ("energy", "retention")


def _make_data(seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(N_TRAIN, DIM, generator=generator, dtype=torch.float64)
    Y = torch.stack(
        [torch.sin(5 * X[:, 0]) + X[:, 1], 100 - 20 * (X[:, 0] - 0.4) ** 2], dim=-1
    )
    return X.to(dtype), Y.to(dtype)


@pytest.fixture(
    name="dtype",
    params=[torch.float64, torch.float32],
    ids=["f64", "f32"],
    scope="module",
)
def fixture_dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture(name="data", scope="module")
def fixture_data(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return _make_data(0, dtype)


@pytest.fixture(name="surrogate", scope="module")  # immutable, so shared
def fixture_surrogate(
    data: tuple[torch.Tensor, torch.Tensor], dtype: torch.dtype
) -> GPSurrogate:
    X, Y = data
    return fit_gp(X, Y, outcome_names=NAMES, dtype=dtype, seed=0, maxiter=50)


@pytest.fixture(name="X_test", scope="module")
def fixture_X_test(dtype: torch.dtype) -> torch.Tensor:
    return torch.rand(5, DIM, generator=torch.Generator().manual_seed(7)).to(dtype)


def test_fit_returns_fitted_immutable_surrogate(
    surrogate: GPSurrogate, dtype: torch.dtype
) -> None:
    assert isinstance(surrogate.model, ModelListGP)
    assert len(surrogate.model.models) == len(NAMES)
    assert not surrogate.model.training
    assert surrogate.outcome_names == NAMES
    assert surrogate.dtype == dtype
    assert surrogate.device == torch.device("cpu")
    assert surrogate.train_X.shape == (N_TRAIN, DIM)
    assert surrogate.train_Y.shape == (N_TRAIN, len(NAMES))
    assert surrogate.bounds.tolist() == [[0.0] * DIM, [1.0] * DIM]
    assert surrogate.fit_seconds > 0.0
    assert isinstance(surrogate.warnings, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        surrogate.fit_seconds = 0.0  # type: ignore[misc]  # frozen on purpose


def test_predict_shapes_and_dtype(
    surrogate: GPSurrogate, X_test: torch.Tensor, dtype: torch.dtype
) -> None:
    mean, std = surrogate.predict(X_test)
    assert mean.shape == std.shape == (5, len(NAMES))
    assert mean.dtype == std.dtype == dtype
    assert not mean.requires_grad
    assert bool((std >= 0).all())
    assert bool(torch.isfinite(mean).all())


def test_predict_matches_model_posterior_in_natural_units(
    surrogate: GPSurrogate, data: tuple[torch.Tensor, torch.Tensor]
) -> None:
    X, Y = data
    mean, std = surrogate.predict(X)
    with torch.no_grad():
        posterior = surrogate.model.posterior(X)  # joint; predict is pointwise
    torch.testing.assert_close(mean, posterior.mean)
    joint_std = posterior.variance.clamp_min(0).sqrt()
    torch.testing.assert_close(
        std, joint_std, atol=1e-6 * float(Y.abs().max()), rtol=1e-4
    )
    # near-interpolation of smooth data: natural units, not standardised ones
    torch.testing.assert_close(mean, Y, atol=0.05 * float(Y.abs().max()), rtol=0.0)


def test_predict_accepts_numpy(surrogate: GPSurrogate, X_test: torch.Tensor) -> None:
    mean_np, _ = surrogate.predict(X_test.double().numpy())
    mean_t, _ = surrogate.predict(X_test)
    torch.testing.assert_close(mean_np, mean_t)


def test_predict_rejects_wrong_dimension(surrogate: GPSurrogate) -> None:
    with pytest.raises(InputShapeError, match=r"d=2\. Got shape \(3, 4\)"):
        surrogate.predict(torch.rand(3, 4))


def test_refit_replaces_and_leaves_old_surrogate_untouched(
    surrogate: GPSurrogate, X_test: torch.Tensor, dtype: torch.dtype
) -> None:
    before, _ = surrogate.predict(X_test)
    X, Y = _make_data(1, dtype)
    refit = fit_gp(X, Y + 3.0, outcome_names=NAMES, dtype=dtype, seed=0, maxiter=50)
    assert refit is not surrogate
    after, _ = surrogate.predict(X_test)
    torch.testing.assert_close(before, after)
    assert not torch.allclose(refit.predict(X_test)[0], before)


def test_save_load_gives_identical_predictions(
    surrogate: GPSurrogate, X_test: torch.Tensor, tmp_path: Path
) -> None:
    path = tmp_path / "model.pt"
    surrogate.save(path)
    loaded = GPSurrogate.load(path)
    assert loaded.outcome_names == surrogate.outcome_names
    assert loaded.dtype == surrogate.dtype
    assert loaded.warnings == surrogate.warnings
    (mean_a, std_a), (mean_b, std_b) = surrogate.predict(X_test), loaded.predict(X_test)
    torch.testing.assert_close(mean_a, mean_b, rtol=0.0, atol=0.0)  # bit for bit
    torch.testing.assert_close(std_a, std_b, rtol=0.0, atol=0.0)
    assert loaded.lengthscales() == surrogate.lengthscales()
    assert loaded.noise() == surrogate.noise()


def test_to_cpu_copies_without_refit(
    surrogate: GPSurrogate, X_test: torch.Tensor
) -> None:
    copy = surrogate.to("cpu")
    assert copy is not surrogate
    torch.testing.assert_close(copy.predict(X_test), surrogate.predict(X_test))


def test_lengthscales_and_noise_per_outcome(surrogate: GPSurrogate) -> None:
    lengthscales = surrogate.lengthscales()
    noise = surrogate.noise()
    assert list(lengthscales) == list(NAMES) == list(noise)
    for values in lengthscales.values():
        assert len(values) == DIM
        assert all(v > 0 for v in values)
    assert all(v > 0 for v in noise.values())


def test_load_rejects_a_file_that_is_not_a_surrogate(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(SurrogateError, match="Not a saved GPSurrogate"):
        GPSurrogate.load(path)


def test_load_rejects_another_format_version(
    surrogate: GPSurrogate, tmp_path: Path
) -> None:
    payload = surrogate.to_payload() | {"format_version": FORMAT_VERSION + 1}
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    with pytest.raises(SurrogateError, match=r"format_version=2; .* Refit the model"):
        GPSurrogate.load(path)


def test_load_reports_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(SurrogateError, match="Could not read a saved GPSurrogate"):
        GPSurrogate.load(path)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SurrogateError, match="Could not read a saved GPSurrogate"):
        GPSurrogate.load(tmp_path / "missing.pt")


def test_fit_is_deterministic_for_a_seed(
    data: tuple[torch.Tensor, torch.Tensor],
) -> None:
    X, Y = data
    first = fit_gp(X, Y, outcome_names=NAMES, dtype=X.dtype, seed=3, maxiter=30)
    second = fit_gp(X, Y, outcome_names=NAMES, dtype=X.dtype, seed=3, maxiter=30)
    assert first.lengthscales() == second.lengthscales()
    assert np.allclose(list(first.noise().values()), list(second.noise().values()))
