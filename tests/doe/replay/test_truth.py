"""The true Pareto front: dense search, greedy best subset, the disk cache."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import tests.doe.replay as toy_module
from doe.exceptions import DoeError
from doe.objectives import hypervolume
from doe.replay import cache_dir, true_front
from doe.replay.simulator import SimulatorError, resolve_simulator
from doe.replay.truth import greedy_subset, truth_key
from tests.doe.replay import ToyLab, toy_truth, write_toy_toml

TOY = "tests.doe.replay:ToyLab"


@pytest.fixture(name="cache")
def fixture_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("DOE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "truth"


def test_true_front_is_cached_and_read_back(cache: Path, tmp_path: Path) -> None:
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    assert cache_dir() == cache
    ToyLab.calls = 0
    first = true_front(spec, definition, n_points=300)
    assert ToyLab.calls == 300 and not first.cached
    files = list(cache.glob("*.json"))
    assert len(files) == 1 and first.key in files[0].name
    assert json.loads(files[0].read_text())["hypervolume"] == first.hypervolume
    second = true_front(spec, definition, n_points=300)
    assert ToyLab.calls == 300, "the second call must read the file, not evaluate"
    assert second.cached and second == first
    # the definition's name or strategy do not matter; the number of points does
    renamed = dataclasses.replace(definition, name="other", strategy="tpe")
    assert true_front(spec, renamed, n_points=300).cached
    assert truth_key(spec, definition, 301) != first.key


def test_cache_key_changes_with_the_simulator_version(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    first = true_front(spec, definition, n_points=128)
    monkeypatch.setattr(toy_module, "SIMULATOR_VERSION", "toy-2")
    assert spec.version == "toy-2"
    ToyLab.calls = 0
    bumped = true_front(spec, definition, n_points=128)
    assert ToyLab.calls == 128 and not bumped.cached
    assert bumped.key != first.key and bumped.version == "toy-2"
    assert len(list(cache.glob("*.json"))) == 2


def test_true_front_of_the_toy_meets_the_limit_and_bounds_every_point(
    cache: Path, tmp_path: Path
) -> None:
    spec, definition = resolve_simulator(TOY, write_toy_toml(tmp_path))
    truth = true_front(spec, definition, n_points=2048, subset=10_000)
    front = np.array(truth.front)  # signed: yield, -cost
    assert truth.reference_point == (0.0, -10.0)
    for settings in truth.front_settings:
        assert toy_truth(**settings)["purity_pct"] >= 90.0
    assert truth.hypervolume == pytest.approx(hypervolume(front, [0.0, -10.0]))
    # a grid of feasible settings never beats the dense front by much
    grid = [
        toy_truth(t, c)
        for t, c in itertools.product(
            np.linspace(32, 68, 30), np.geomspace(0.01, 1, 30)
        )
    ]
    ys = np.array([[g["yield_pct"], -g["cost_eur"]] for g in grid])
    assert hypervolume(ys, [0.0, -10.0]) <= truth.hypervolume * 1.01
    curve = [truth.best_subset_fraction(k) for k in range(1, 41)]
    assert all(b >= a for a, b in itertools.pairwise(curve)) and curve[-1] <= 1.0
    assert truth.best_subset_fraction(len(truth.front)) == pytest.approx(1.0)


def test_greedy_subset_matches_brute_force_on_a_small_front() -> None:
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, np.pi / 2, 12)
    points = np.column_stack([np.cos(angles), np.sin(angles), rng.uniform(0.2, 1, 12)])
    chosen, curve = greedy_subset(points, 3)
    assert len(set(chosen)) == 3
    zero = [0.0, 0.0, 0.0]
    for k in (1, 2, 3):
        assert curve[k - 1] == pytest.approx(hypervolume(points[chosen[:k]], zero))
    best_single = max(float(np.prod(p)) for p in points)
    assert curve[0] == pytest.approx(best_single)
    best_pair = max(
        hypervolume(points[list(pair)], zero)
        for pair in itertools.combinations(range(12), 2)
    )
    assert curve[1] <= best_pair + 1e-12 and curve[1] >= 0.63 * best_pair


def test_errors_name_the_problem(cache: Path, tmp_path: Path) -> None:
    toml = write_toy_toml(tmp_path)
    with pytest.raises(SimulatorError, match="needs a campaign definition"):
        resolve_simulator(TOY)
    with pytest.raises(SimulatorError, match="Unknown simulator 'nope'"):
        resolve_simulator("nope")
    with pytest.raises(SimulatorError, match="has no class 'Missing'"):
        resolve_simulator("tests.doe.replay:Missing", toml)
    no_threshold = tmp_path / "nothr.toml"
    no_threshold.write_text(toml.read_text().replace("threshold = 10.0\n", ""))
    spec, definition = resolve_simulator(TOY, no_threshold)
    with pytest.raises(DoeError, match="cost_eur have no threshold"):
        true_front(spec, definition, n_points=64)
