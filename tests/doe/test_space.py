from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doe.exceptions import DefinitionError, InvalidSettingsError
from doe.space import Parameter, SearchSpace


@pytest.fixture(name="space")
def fixture_space() -> SearchSpace:
    return SearchSpace(
        (
            Parameter("temp_c", 300.0, 550.0, unit="C"),
            Parameter("conc_mol_l", 0.01, 1.0, unit="mol/L", log=True),
            Parameter("layers", 1.0, 9.0, unit="-", step=2.0),
        )
    )


@given(u=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
@settings(max_examples=100, deadline=None)
def test_decode_then_encode_is_identity_off_the_step_grid(u: list[float]) -> None:
    space = SearchSpace(
        (Parameter("a_c", -5.0, 5.0), Parameter("b_g", 0.01, 100.0, log=True))
    )
    x = np.array([u[:2]])
    back = space.encode(space.decode(x))
    np.testing.assert_allclose(back, x, atol=1e-9)


def test_log_parameter_encodes_geometric_midpoint(space: SearchSpace) -> None:
    x = space.encode_one({"temp_c": 425.0, "conc_mol_l": 0.1, "layers": 5.0})
    np.testing.assert_allclose(x, [0.5, 0.5, 0.5])


def test_step_snaps_decoded_values(space: SearchSpace) -> None:
    row = space.decode(np.array([[0.0, 0.0, 0.3]]))[0]
    assert row["layers"] in (3.0, 5.0)


def test_decode_without_snapping_is_smooth_between_steps() -> None:
    layers = Parameter("layers", 1.0, 9.0, unit="-", step=2.0)
    assert layers.decode(np.array([0.3]))[0] == 3.0  # 3.4 snaps to the grid
    assert layers.decode(np.array([0.3]), snap=False)[0] == pytest.approx(3.4)
    assert layers.decode(np.array([1.2]), snap=False)[0] == 9.0  # still clipped


def test_validate_returns_floats_in_order(space: SearchSpace) -> None:
    out = space.validate({"layers": "3", "temp_c": 400, "conc_mol_l": 0.5})
    assert list(out) == ["temp_c", "conc_mol_l", "layers"]
    assert out["layers"] == 3.0


@pytest.mark.parametrize(
    ("settings_", "match"),
    [
        pytest.param(
            {"temp_c": 600.0, "conc_mol_l": 0.5, "layers": 3},
            r"'temp_c'.*\[300, 550\] C; got 600",
            id="high",
        ),
        pytest.param(
            {"temp_c": math.nan, "conc_mol_l": 0.5, "layers": 3}, "finite", id="nan"
        ),
        pytest.param(
            {"temp_c": math.inf, "conc_mol_l": 0.5, "layers": 3}, "finite", id="inf"
        ),
        pytest.param(
            {"temp_c": "hot", "conc_mol_l": 0.5, "layers": 3},
            "must be a number; got 'hot'",
            id="text",
        ),
        pytest.param(
            {"temp_c": 400.0, "layers": 3}, "Missing value.*'conc_mol_l'", id="missing"
        ),
        pytest.param(
            {"temp_c": 400.0, "conc_mol_l": 0.5, "layers": 3, "tmp_c": 1},
            "Unknown parameter 'tmp_c'.*Did you mean 'temp_c'",
            id="unknown",
        ),
        pytest.param(
            {"temp_c": True, "conc_mol_l": 0.5, "layers": 3}, "boolean", id="bool"
        ),
    ],
)
def test_validate_rejects_bad_settings(
    space: SearchSpace, settings_: dict, match: str
) -> None:
    with pytest.raises(InvalidSettingsError, match=match):
        space.validate(settings_, where=" in row 2")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"name": "T", "low": 0, "high": 1}, "snake_case", id="name"),
        pytest.param({"name": "t_c", "low": 2, "high": 1}, "low < high", id="order"),
        pytest.param(
            {"name": "t_c", "low": 0, "high": 1, "log": True},
            "low must be > 0",
            id="log",
        ),
        pytest.param(
            {"name": "t_c", "low": 0, "high": 1, "step": 2}, "step must lie", id="step"
        ),
        pytest.param(
            {"name": "t_c", "low": "a", "high": 1}, "must be a number", id="text"
        ),
    ],
)
def test_parameter_rejects_bad_definitions(kwargs: dict, match: str) -> None:
    with pytest.raises(DefinitionError, match=match):
        Parameter(**kwargs)


def test_sobol_continues_one_sequence(space: SearchSpace) -> None:
    a = space.sobol(8, seed=1)
    b = np.vstack([space.sobol(4, seed=1), space.sobol(4, seed=1, skip=4)])
    np.testing.assert_allclose(a, b)
    assert len({tuple(r) for r in a}) == 8
