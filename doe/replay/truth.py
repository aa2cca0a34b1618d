"""The simulator's true Pareto front, found once by a dense search, cached on disk.

The noise-free simulator is evaluated at scrambled Sobol points of the campaign's
space (200,000 with ``evaluate_many``, 4,096 through ``evaluate`` otherwise). Points
that meet every limit form the front; its hypervolume above the campaign's reference
point (the objectives' thresholds) is what a replay's hypervolume is a fraction of.
The greedy best subset (repeatedly add the front point that adds the most
hypervolume) says what the best possible set of ``k`` settings reaches.

The cache is one JSON file per key under ``$DOE_CACHE_DIR/truth`` (default
``~/.cache/li2s-doe/truth``); the key is the simulator path, its
``SIMULATOR_VERSION``, a hash of the campaign's parameters, objectives and limits,
and the number of points.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from doe.definition import CampaignDefinition
from doe.exceptions import DoeError
from doe.objectives import hypervolume, pareto_mask
from doe.replay._files import write_text_atomic
from doe.replay.simulator import Oracle, SimulatorSpec

__all__ = [
    "DENSE_POINTS",
    "DENSE_POINTS_SLOW",
    "TrueFront",
    "cache_dir",
    "greedy_subset",
    "problem_hash",
    "true_front",
    "truth_key",
]

DENSE_POINTS = 200_000  # simulators with evaluate_many
DENSE_POINTS_SLOW = 4_096  # simulators with evaluate only
SUBSET = 40
_CHUNK = 100_000  # evaluate_many rows per call (memory bound)
_PREFILTER = 4_096  # rows per Pareto pre-filter block


def cache_dir() -> Path:
    """``$DOE_CACHE_DIR/truth``, else ``~/.cache/li2s-doe/truth``."""
    base = os.environ.get("DOE_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "li2s-doe"
    return root / "truth"


def problem_hash(definition: CampaignDefinition) -> str:
    """Hash of what the truth depends on: parameters, objectives, limits."""
    d = definition.to_dict()
    for o in d["objectives"]:
        o.pop("valid_range", None)  # checks measurements, not the truth
    blob = json.dumps(
        {k: d[k] for k in ("parameters", "objectives", "limits")}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def truth_key(
    spec: SimulatorSpec, definition: CampaignDefinition, n_points: int
) -> str:
    """The cache key (16 hex digits) of a true front."""
    blob = json.dumps(
        [spec.path, spec.version, problem_hash(definition), int(n_points)]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrueFront:
    """The dense-search Pareto front of a noise-free simulator.

    Attributes:
        simulator: ``module:Class`` of the simulator.
        version: Its ``SIMULATOR_VERSION`` (``"unversioned"`` without one).
        problem_hash: Hash of the campaign's parameters, objectives and limits.
        n_points: Points evaluated.
        n_feasible: Points meeting every limit.
        objectives: Objective names.
        reference_point: Reference point, signed for maximisation.
        hypervolume: Hypervolume of the front above the reference point.
        front: Front points, signed objective values (`n_front x m`).
        front_settings: The settings of each front point.
        greedy_hypervolume: Hypervolume of the greedy best subset of 1, 2, ... points.
        seconds: Time the dense search took.
        key: The cache key.
        cached: Whether this came from the cache file (not stored).
    """

    simulator: str
    version: str
    problem_hash: str
    n_points: int
    n_feasible: int
    objectives: tuple[str, ...]
    reference_point: tuple[float, ...]
    hypervolume: float
    front: tuple[tuple[float, ...], ...]
    front_settings: tuple[dict[str, float], ...]
    greedy_hypervolume: tuple[float, ...]
    seconds: float
    key: str
    cached: bool = field(default=False, compare=False)

    def best_subset_fraction(self, k: int) -> float:
        """Hypervolume fraction of the best (greedy) set of ``k`` settings."""
        if self.hypervolume <= 0 or k <= 0:
            return 0.0
        curve = self.greedy_hypervolume
        value = curve[min(k, len(curve)) - 1] if curve else 0.0
        return float(value / self.hypervolume)

    def fraction(self, hv: float) -> float:
        """``hv`` as a fraction of the true hypervolume (NaN when that is 0)."""
        return float(hv / self.hypervolume) if self.hypervolume > 0 else math.nan

    def to_json(self) -> str:
        """JSON of everything but ``cached``."""
        data = asdict(self)
        data.pop("cached")
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> TrueFront:
        """Inverse of :meth:`to_json` (marks the result as ``cached``)."""
        data = json.loads(text)
        return cls(
            **{
                **data,
                "objectives": tuple(data["objectives"]),
                "reference_point": tuple(data["reference_point"]),
                "front": tuple(tuple(r) for r in data["front"]),
                "front_settings": tuple(data["front_settings"]),
                "greedy_hypervolume": tuple(data["greedy_hypervolume"]),
                "cached": True,
            }
        )


def reference_point(definition: CampaignDefinition) -> list[float]:
    """The objectives' thresholds, signed for maximisation.

    Raises:
        DoeError: An objective has no threshold (a replay needs a fixed reference).
    """
    missing = [o.name for o in definition.objectives if o.threshold is None]
    if missing:
        raise DoeError(
            f"Campaign {definition.name!r}: objective(s) {', '.join(missing)} have no "
            "threshold; a replay measures hypervolume above fixed thresholds, so set "
            "`threshold` for every objective in the campaign file."
        )
    return [o.sign * float(o.threshold or 0.0) for o in definition.objectives]


def _front_indices(values: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows; blocks are pre-filtered first (fast)."""
    idx = np.arange(values.shape[0])
    keep = [
        idx[s : s + _PREFILTER][pareto_mask(values[s : s + _PREFILTER])]
        for s in range(0, values.shape[0], _PREFILTER)
    ]
    cand = np.concatenate(keep) if keep else idx
    return np.asarray(cand[pareto_mask(values[cand])])


def _gain(points: np.ndarray, i: int, chosen: list[int]) -> float:
    """Hypervolume that point ``i`` adds to ``chosen`` (points over the origin)."""
    box = float(np.prod(points[i]))
    if not chosen:
        return box
    clipped = np.minimum(points[chosen], points[i])
    return box - hypervolume(clipped, [0.0] * points.shape[1])


def greedy_subset(points: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Greedy hypervolume subset selection (lazy: hypervolume is submodular).

    Args:
        points: `n x m` points, all > 0, maximised over the origin.
        k: Points to pick.

    Returns:
        The indices picked, in order, and the hypervolume after each pick.
    """
    heap = [(-float(np.prod(p)), i, -1) for i, p in enumerate(points)]
    heapq.heapify(heap)
    chosen: list[int] = []
    curve: list[float] = []
    total = 0.0
    while heap and len(chosen) < k:
        neg, i, stamp = heapq.heappop(heap)
        if stamp == len(chosen):  # gain is fresh for this round: it is the best
            chosen.append(i)
            total += -neg
            curve.append(total)
            continue
        heapq.heappush(heap, (-_gain(points, i, chosen), i, len(chosen)))
    return chosen, curve


def _dense_points(spec: SimulatorSpec, n_points: int | None) -> int:
    if n_points is None:
        return DENSE_POINTS if spec.is_vectorised else DENSE_POINTS_SLOW
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 16:
        raise DoeError(f"The dense search needs n_points >= 16; got {n_points=}.")
    return n_points


def _search(
    spec: SimulatorSpec, definition: CampaignDefinition, n: int, subset: int
) -> TrueFront:
    t0 = time.perf_counter()
    space = definition.space
    unit = space.sobol(2 ** math.ceil(math.log2(n)), seed=0)[:n]
    oracle = Oracle(spec, definition)
    blocks: list[np.ndarray] = []
    rows_all: list[dict[str, float]] = []
    for s in range(0, n, _CHUNK):
        rows = space.decode(unit[s : s + _CHUNK])
        y, ok = oracle.assess(rows)
        blocks.append(y[ok])
        rows_all.extend(r for r, good in zip(rows, ok, strict=True) if good)
    values = np.concatenate(blocks)
    ref = np.asarray(reference_point(definition))
    above = np.all(values > ref, axis=1)
    idx = np.flatnonzero(above)[_front_indices(values[above])]
    _, curve = greedy_subset(values[idx] - ref, subset)
    return TrueFront(
        simulator=spec.path,
        version=spec.version,
        problem_hash=problem_hash(definition),
        n_points=n,
        n_feasible=len(rows_all),
        objectives=tuple(o.name for o in definition.objectives),
        reference_point=tuple(float(r) for r in ref),
        hypervolume=hypervolume(values[idx], ref.tolist()) if len(idx) else 0.0,
        front=tuple(tuple(float(v) for v in row) for row in values[idx]),
        front_settings=tuple(rows_all[i] for i in idx),
        greedy_hypervolume=tuple(float(v) for v in curve),
        seconds=time.perf_counter() - t0,
        key=truth_key(spec, definition, n),
    )


def _read(path: Path) -> TrueFront | None:
    try:
        return TrueFront.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None  # missing or unreadable (an older format): search again


def true_front(
    spec: SimulatorSpec,
    definition: CampaignDefinition,
    /,
    *,
    n_points: int | None = None,
    subset: int = SUBSET,
    cache: bool = True,
) -> TrueFront:
    """The true Pareto front of ``spec`` for ``definition``; from the cache if there.

    Args:
        spec: The simulator.
        definition: The campaign (parameters, objectives with thresholds, limits).
        n_points: Sobol points of the dense search (default 200,000 with
            ``evaluate_many``, else 4,096).
        subset: Greedy best-subset size to record (at least; a cached curve that
            is shorter is extended from the cached front).
        cache: Read and write the cache (``cache_dir()``).

    Returns:
        The front, with its hypervolume and greedy best-subset curve.

    Raises:
        DoeError: An objective without a threshold, or a bad ``n_points``.
        SimulatorError: The simulator cannot be loaded or evaluated.
    """
    reference_point(definition)
    n = _dense_points(spec, n_points)
    key = truth_key(spec, definition, n)
    path = cache_dir() / f"{spec.path.replace(':', '.')}-{key}.json"
    found = _read(path) if cache else None
    if found is not None and found.key == key:
        if len(found.greedy_hypervolume) >= min(subset, len(found.front)):
            return found
        points = np.asarray(found.front) - np.asarray(found.reference_point)
        _, curve = greedy_subset(points, subset)
        found = replace(found, greedy_hypervolume=tuple(curve))
    else:
        found = _search(spec, definition, n, subset)
    if cache:
        write_text_atomic(path, found.to_json())
    return found


def front_table(truth: TrueFront, objectives: Sequence[Any]) -> list[dict[str, float]]:
    """Front points in natural units, ``{objective: value}`` per point."""
    return [
        {o.name: o.sign * v for o, v in zip(objectives, row, strict=True)}
        for row in truth.front
    ]
