from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from doe.exceptions import DefinitionError
from doe.objectives import Objective, OutcomeLimit, hypervolume, pareto_mask


def _brute_hv(Y: np.ndarray, ref: np.ndarray, n: int = 200_000) -> float:
    rng = np.random.default_rng(0)
    hi = Y.max(axis=0)
    pts = ref + rng.random((n, Y.shape[1])) * (hi - ref)
    dominated = np.zeros(n, dtype=bool)
    for y in Y:
        dominated |= np.all(pts <= y, axis=1)
    return float(dominated.mean() * np.prod(hi - ref))


def test_hypervolume_2d_exact() -> None:
    Y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [0.5, 0.5]])
    assert hypervolume(Y, [0.0, 0.0]) == pytest.approx(6.0)


def test_hypervolume_3d_matches_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    Y = rng.random((25, 3))
    ref = np.zeros(3)
    assert hypervolume(Y, ref) == pytest.approx(_brute_hv(Y, ref), rel=0.02)


def test_hypervolume_matches_botorch() -> None:
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    rng = np.random.default_rng(2)
    Y = rng.random((40, 3))
    ref = torch.tensor([0.1, 0.2, 0.0], dtype=torch.double)
    expected = Hypervolume(ref).compute(torch.tensor(Y[pareto_mask(Y)]))
    assert hypervolume(Y, ref.tolist()) == pytest.approx(expected)


@given(Y=arrays(np.float64, (12, 2), elements=st.floats(-1, 1)))
@settings(max_examples=100, deadline=None)
def test_hypervolume_never_decreases_when_adding_a_point(Y: np.ndarray) -> None:
    ref = [-1.0, -1.0]
    assert hypervolume(Y, ref) >= hypervolume(Y[:-1], ref) - 1e-12


def test_points_below_reference_and_nan_add_nothing() -> None:
    Y = np.array([[1.0, 1.0], [np.nan, 5.0], [-1.0, 9.0]])
    assert hypervolume(Y, [0.0, 0.0]) == pytest.approx(1.0)
    assert hypervolume(np.zeros((0, 2)), [0.0, 0.0]) == 0.0


def test_limit_slack_and_validation() -> None:
    lim = OutcomeLimit("safety_score", ">=", 70)
    assert lim.is_met(70.0) and not lim.is_met(69.9) and not lim.is_met(np.nan)
    assert str(lim) == "safety_score >= 70"
    with pytest.raises(DefinitionError, match="op '>=' or '<='"):
        OutcomeLimit("safety_score", ">", 70)


def test_objective_direction_is_checked() -> None:
    with pytest.raises(DefinitionError, match="'maximize' or 'minimize'"):
        Objective("energy_wh_kg", direction="max")  # type: ignore[arg-type]
    assert Objective("cost_eur", direction="minimize").sign == -1.0
