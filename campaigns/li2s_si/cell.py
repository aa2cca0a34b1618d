"""The simulated Li2S||Si quasi-solid cell that stands in for the lab.

One `SimulatedCell.evaluate` call is one experiment: synthesise the h-CoN@MCNF host,
build a full cell with the gel electrolyte and cycle it. The deterministic core
(`noise=False`) follows the model of the campaign's SCIENCE.md §8 and reproduces the
seed paper's figures (see README.md next to this file); `noise=True` adds batch,
cell, measurement and safety-test scatter and rare hard failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from campaigns.li2s_si import _physics as physics
from campaigns.li2s_si._knobs import KNOB_NAMES
from campaigns.li2s_si._noise import (
    LOST_PROBABILITY,
    CellDraws,
    draw_cells,
    measurement_factors,
    sudden_death,
)
from campaigns.li2s_si._validation import (
    CellInputError,
    validate_conditions,
    validate_knob_arrays,
    validate_knobs,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

SIMULATOR_VERSION = "li2s_si-1.1.0"
"""Bump whenever the physics or the noise model changes (replays cache by it)."""

SYNTHESIS_H = 60.0  # electrospinning 17.6 mL at 1 mL/h, stabilise, carbonise, NH3
BUILD_H = 24.0  # Li2S infiltration, Si pre-cycling, cell assembly, GPE formation
RETENTION_CYCLE = 100  # the campaign reads retention and duration at cycle 100
FAILURE_KINDS = ("short_circuit", "build_failed", "safety_test_failed", "lost")
_CAUSE_KIND = np.array(
    ["short_circuit", "build_failed", "short_circuit", "build_failed"], dtype=object
)  # plating short, cracking/delamination, soft-gel short, brittle fibres
EUCAR_FAIL_LEVEL = 4  # EUCAR level 4 (venting) or worse fails an abuse test
_MAX_CHUNK_VALUES = 4_000_000  # rows x cycles per internal chunk (memory bound)

WARNING_MESSAGES: tuple[str, ...] = (
    "N/P < 1: lithium plating (low CE, fast fade, nail/short hazard)",
    "Li2S loading > 6 mg/cm2: cathode cracking and delamination",
    "Nitridation < 330 C: incomplete nitridation, metallic Co core",
    "Nitridation > 500 C: N-poor cobalt nitrides and sintering",
    "Co precursor > 0.8 g: CoN agglomeration and fibre damage",
    "EO/Li < 8: soft gel and fast polysulfide shuttle",
    "EO/Li > 30: crystalline PEO, poor low-temperature capacity",
    "Test temperature <= 0 C: ion transport limits capacity",
    "Test temperature >= 50 C: faster polysulfide shuttle",
)
"""Failure-mode flags; column j of ``warning_flags`` is message j."""

_PHASES = (
    "Co(+CoNx shell)",
    "CoN",
    "Co4N/Co3N+CoN",
    "Co+Co4N (sintered)",
)


def _warning_flags(knobs: Mapping[str, FloatArray], temperature_c: float) -> BoolArray:
    n_cells = knobs["np_ratio"].shape[0]
    condition = np.ones(n_cells, dtype=bool)
    columns = [
        knobs["np_ratio"] < 1.0,
        knobs["li2s_loading_mg_cm2"] > 6.0,
        knobs["nitridation_temp_c"] < 330.0,
        knobs["nitridation_temp_c"] > 500.0,
        knobs["co_precursor_g"] > 0.8,
        knobs["eo_li_ratio"] < 8.0,
        knobs["eo_li_ratio"] > 30.0,
        condition & (temperature_c <= 0.0),
        condition & (temperature_c >= 50.0),
    ]
    return np.stack(columns, axis=1)


def _phase_labels(nitridation_temp_c: FloatArray) -> NDArray[np.str_]:
    """Dominant Co-N phase after nitridation at the set temperature (§1)."""
    t_n = nitridation_temp_c
    return np.select(
        [t_n < 330.0, t_n <= 460.0, t_n <= 540.0], list(_PHASES[:3]), _PHASES[3]
    )


def _eucar_levels(design: physics.Design, draws: CellDraws) -> FloatArray:
    expected = physics.hazard_levels(design)
    if not draws.is_noisy:
        return np.clip(expected, 0.0, 7.0)
    return np.clip(np.round(expected + draws.eucar_noise), 0.0, 7.0)


def _failures(
    design: physics.Design, levels: FloatArray, draws: CellDraws
) -> tuple[BoolArray, NDArray[np.object_]]:
    """Decide which cells fail and why; physical causes come first."""
    hit = draws.failure_uniform < physics.failure_probabilities(design)
    is_physical: BoolArray = np.asarray(hit.any(axis=1), dtype=bool)
    kinds: NDArray[np.object_] = np.full(hit.shape[0], None, dtype=object)
    kinds[is_physical] = _CAUSE_KIND[np.argmax(hit[is_physical], axis=1)]
    if draws.is_noisy:
        is_unsafe = (levels >= EUCAR_FAIL_LEVEL).any(axis=1) & ~is_physical
        kinds[is_unsafe] = "safety_test_failed"
        is_lost = (draws.lost_uniform < LOST_PROBABILITY) & (kinds == None)  # noqa: E711
        kinds[is_lost] = "lost"
    return is_physical, kinds


def _durations(
    c_rate: float,
    cycles: int,
    kinds: NDArray[np.object_],
    draws: CellDraws,
) -> tuple[FloatArray, FloatArray]:
    """Lab hours to read cycle 100 and to finish all cycles.

    A cell that dies is stopped 10 cycles after its collapse starts; a lost cell
    stops at a random point of the test.
    """
    cycle_h = 2.0 / c_rate * draws.cycling_time_factor
    is_dead = (kinds == "short_circuit") | (kinds == "build_failed")
    tested = np.where(
        is_dead,
        np.minimum(RETENTION_CYCLE, draws.death_cycle + 10.0),
        float(RETENTION_CYCLE),
    )
    tested = np.where(kinds == "lost", RETENTION_CYCLE * draws.lost_fraction, tested)
    prep_h = (SYNTHESIS_H + BUILD_H) * draws.prep_time_factor
    return prep_h + tested * cycle_h, prep_h + cycles * cycle_h


def _capacities(
    performance: physics.Performance,
    draws: CellDraws,
    cycle_index: NDArray[np.int64],
    rng: np.random.Generator | None,
    is_physical: BoolArray,
) -> FloatArray:
    """Measured capacity at the 0-based cycle indices, `n x len(cycle_index)`."""
    initial = performance.capacity_mah_g * draws.capacity_factor
    fade = performance.fade_rate * draws.fade_factor
    curves = physics.capacity_curves(initial, fade, cycle_index)
    if rng is None:
        return curves
    curves = curves * measurement_factors(rng, curves.shape[0], curves.shape[1])
    return sudden_death(curves, draws.death_cycle, is_physical)


def _cycle_columns(
    curves: FloatArray, cycle_index: NDArray[np.int64], cycles: int
) -> dict[str, FloatArray]:
    where = {int(c): j for j, c in enumerate(cycle_index)}
    columns = {
        "initial_capacity_mah_g": curves[:, where[0]],
        "capacity_100_mah_g": curves[:, where[RETENTION_CYCLE - 1]],
    }
    if cycles >= 500:
        columns["capacity_500_mah_g"] = curves[:, where[499]]
    retention = columns["capacity_100_mah_g"] / columns["initial_capacity_mah_g"]
    columns["retention_pct"] = 100.0 * retention
    return columns


def _cell_columns(
    design: physics.Design,
    performance: physics.Performance,
    draws: CellDraws,
    initial_mah_g: FloatArray,
) -> dict[str, FloatArray]:
    voltage = performance.voltage_v + draws.voltage_offset_v
    energy = physics.specific_energy(design, initial_mah_g, voltage)
    efficiency = performance.coulombic_efficiency + draws.ce_offset
    return {
        "coulombic_efficiency_pct": 100.0 * np.minimum(efficiency, 1.0),
        "average_voltage_v": voltage,
        "areal_capacity_mah_cm2": initial_mah_g * design.loading_mg_cm2 / 1000.0,
        "specific_energy_wh_kg": energy.cell_wh_kg,
        "specific_energy_active_wh_kg": energy.active_wh_kg,
        "specific_energy_electrode_wh_kg": energy.electrode_wh_kg,
        "self_discharge_pct": performance.self_discharge_pct * draws.fade_factor,
        "cocn_wt_pct": 100.0 * design.cocn_frac,
    }


def _simulate(
    knobs: Mapping[str, FloatArray],
    conditions: tuple[float, float, int],
    rng: np.random.Generator | None,
    include_curves: bool,
) -> dict[str, NDArray[Any]]:
    """Simulate one chunk of cells; ``rng=None`` is the deterministic core."""
    temperature_c, c_rate, cycles = conditions
    n_cells = knobs["np_ratio"].shape[0]
    loading = knobs["li2s_loading_mg_cm2"]
    draws = CellDraws.neutral(n_cells) if rng is None else draw_cells(rng, loading)
    design = physics.design_cell(
        knobs,
        cocn_factor=draws.cocn_factor,
        nitridation_offset_c=draws.nitridation_offset_c,
    )
    performance = physics.perform(design, temperature_c, c_rate)
    levels = _eucar_levels(design, draws)
    is_physical, kinds = _failures(design, levels, draws)
    full = include_curves or rng is not None
    index = (
        np.arange(cycles) if full else np.array(sorted({0, 99, min(499, cycles - 1)}))
    )
    curves = _capacities(performance, draws, index, rng, is_physical)
    out: dict[str, NDArray[Any]] = _cycle_columns(curves, index, cycles)
    out.update(_cell_columns(design, performance, draws, out["initial_capacity_mah_g"]))
    if include_curves:
        out["capacity_mah_g"] = curves
    discrete = levels.astype(np.int64) if rng is not None else levels
    for j, test in enumerate(("nail", "short", "heat")):
        out[f"eucar_{test}_level"] = discrete[:, j]
    out["safety_score"] = physics.safety_score(levels)
    out["failed"], out["failure_kind"] = kinds != None, kinds  # noqa: E711
    out["duration_h"], out["duration_all_cycles_h"] = _durations(
        c_rate, cycles, kinds, draws
    )
    out["phase"] = _phase_labels(knobs["nitridation_temp_c"])
    out["warning_flags"] = _warning_flags(knobs, temperature_c)
    return out


def _to_python(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


class SimulatedCell:
    """A simulated lab that makes and cycles quasi-solid Li2S||Si cells.

    Use it as the experiment of a replayed campaign or to find the true Pareto
    front (``noise=False``, `evaluate_many`). Each call builds fresh cells from
    the instance's random stream, so a sequence of calls is reproducible from
    the seed.

    Args:
        seed: Seed of the random stream; None draws fresh entropy.
        noise: False gives the deterministic core: no scatter, no failures,
            continuous expected EUCAR levels.

    Raises:
        CellInputError: If seed is neither None nor a non-negative integer.

    Example:
        >>> from campaigns.li2s_si import NOMINAL, SimulatedCell
        >>> out = SimulatedCell(noise=False).evaluate(NOMINAL)
        >>> round(out["initial_capacity_mah_g"])
        827
    """

    def __init__(self, seed: int | None = None, *, noise: bool = True) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            raise CellInputError(
                f"seed must be None or a non-negative integer; got {seed!r}."
            )
        self._seed = None if seed is None else int(seed)
        self._noise = bool(noise)
        self._rng = np.random.default_rng(self._seed)

    @property
    def seed(self) -> int | None:
        """The seed of the random stream (None: fresh entropy)."""
        return self._seed

    @property
    def noise(self) -> bool:
        """Whether outcomes carry noise and hard failures."""
        return self._noise

    def evaluate(
        self,
        settings: Mapping[str, float],
        /,
        *,
        temperature_c: float = 30.0,
        c_rate: float = 0.2,
        cycles: int = 500,
    ) -> dict[str, Any]:
        """Run one experiment: synthesise, build and cycle one cell.

        Args:
            settings: A value for each knob in `KNOBS`, keyed by name.
            temperature_c: Test temperature in C, -20 to 60.
            c_rate: Test rate, 0.05 to 2.0 (a cycle takes 2/c_rate hours).
            cycles: Number of cycles to simulate, 100 to 2000.

        Returns:
            Scalars (Python floats, ints, bools, str or None) for every outcome
            of `OUTCOMES` plus ``capacity_mah_g`` (array of length ``cycles``),
            ``eucar_levels`` (dict nail/short/heat), ``failed``,
            ``failure_kind``, ``phase``, ``warnings`` (list of str) and more;
            see the README for the full list.

        Raises:
            CellInputError: If a knob or condition is missing, unknown,
                non-numeric, non-finite or outside its valid range.
        """
        knobs = validate_knobs(settings)
        arrays = {name: np.array([value]) for name, value in knobs.items()}
        batch = self.evaluate_many(
            arrays, temperature_c=temperature_c, c_rate=c_rate, cycles=cycles
        )
        flags = batch.pop("warning_flags")[0]
        curve = np.array(batch.pop("capacity_mah_g")[0])
        out: dict[str, Any] = {k: _to_python(v[0]) for k, v in batch.items()}
        out["capacity_mah_g"] = curve
        out["warnings"] = [
            m for m, on in zip(WARNING_MESSAGES, flags, strict=True) if on
        ]
        out["eucar_levels"] = {
            test: out[f"eucar_{test}_level"] for test in ("nail", "short", "heat")
        }
        return out

    def evaluate_many(
        self,
        settings: Mapping[str, Any] | NDArray[Any],
        /,
        *,
        temperature_c: float = 30.0,
        c_rate: float = 0.2,
        cycles: int = 500,
        include_curves: bool = True,
    ) -> dict[str, NDArray[Any]]:
        """Run many experiments at one test condition, vectorised.

        Args:
            settings: A mapping from knob name to a scalar or 1-D array, or a
                `n x 5` array with columns in `KNOBS` order.
            temperature_c: Test temperature in C, -20 to 60.
            c_rate: Test rate, 0.05 to 2.0.
            cycles: Number of cycles to simulate, 100 to 2000.
            include_curves: Return ``capacity_mah_g`` (`n x cycles`). False
                saves memory; with ``noise=False`` it also skips computing the
                curves (only cycles 1, 100 and 500 are evaluated).

        Returns:
            One array of length `n` per scalar outcome (the keys of
            `evaluate` except ``eucar_levels`` and ``warnings``, which appear as
            ``eucar_{nail,short,heat}_level`` and the `n x 9` boolean
            ``warning_flags`` whose columns follow `WARNING_MESSAGES`).

        Raises:
            CellInputError: If a knob or condition is missing, unknown,
                non-numeric, non-finite or outside its valid range.
        """
        conditions = validate_conditions(temperature_c, c_rate, cycles)
        knobs = validate_knob_arrays(settings)
        rng = self._rng if self._noise else None
        n_cells = knobs[KNOB_NAMES[0]].shape[0]
        step = max(1, _MAX_CHUNK_VALUES // conditions[2])
        chunks = [
            _simulate(
                {k: v[start : start + step] for k, v in knobs.items()},
                conditions,
                rng,
                include_curves,
            )
            for start in range(0, n_cells, step)
        ]
        if len(chunks) == 1:
            return chunks[0]
        return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
