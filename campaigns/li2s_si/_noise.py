"""Random parts of the simulated cell (SCIENCE.md §8 noise model).

All draws for a group of cells come from one `numpy.random.Generator` in a fixed
order, so a seed fixes every outcome. ``CellDraws.neutral`` gives the draws of the
deterministic core (no noise, no failures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

COCN_BATCH_SD = 0.04  # relative error of the CoN content per synthesis batch
NITRIDATION_BATCH_SD_C = 3.0  # furnace temperature error per batch, C
CAPACITY_SD = 0.03  # lognormal sd of cell capacity at 1 mg/cm2 ...
CAPACITY_SD_PER_MG_CM2 = 0.15  # ... growing by 15% per extra mg/cm2 of Li2S
FADE_SD = 0.10  # lognormal sd of the fade rate
CE_SD = 0.002  # coulombic efficiency, absolute
VOLTAGE_SD_V = 0.005
CYCLE_SD = 0.004  # marginal sd of the AR(1) per-cycle measurement error
CYCLE_AR = 0.7
GLITCH_PROBABILITY = 0.005  # per cycle: one reading 3% low
GLITCH_DEPTH = 0.03
EUCAR_SD = 0.6  # spread of a discrete EUCAR level around its expectation
LOST_PROBABILITY = 0.003  # cycler channel fault, mislabelled or dropped cell [A]
PREP_TIME_SD = 0.08  # lognormal sd of synthesis + build time
CYCLING_TIME_SD = 0.01  # lognormal sd of cycling time (rests, restarts)
DEATH_CYCLE_RANGE = (5.0, 100.0)  # sudden death starts at n_f ~ U(5, 100)


@dataclass(frozen=True)
class CellDraws:
    """Random perturbations of `n` cells; arrays of shape `n` unless stated.

    Attributes:
        cocn_factor: Multiplier on the CoN fraction (synthesis batch).
        nitridation_offset_c: Error of the NH3 temperature (synthesis batch), C.
        capacity_factor: Lognormal multiplier on the initial capacity.
        fade_factor: Lognormal multiplier on the fade rate and self-discharge.
        ce_offset: Additive error of the coulombic efficiency (fraction).
        voltage_offset_v: Additive error of the average voltage, V.
        eucar_noise: `n x 3` additive noise of the EUCAR levels before rounding.
        failure_uniform: `n x 4` uniforms compared with the failure probabilities.
        lost_uniform: Uniforms for the "lost" outcome.
        death_cycle: First cycle of sudden death (1-based) of a failing cell.
        lost_fraction: Fraction of the test done when a cell is lost.
        prep_time_factor: Lognormal multiplier on synthesis + build time.
        cycling_time_factor: Lognormal multiplier on cycling time.
        is_noisy: False for the deterministic core.
    """

    cocn_factor: FloatArray
    nitridation_offset_c: FloatArray
    capacity_factor: FloatArray
    fade_factor: FloatArray
    ce_offset: FloatArray
    voltage_offset_v: FloatArray
    eucar_noise: FloatArray
    failure_uniform: FloatArray
    lost_uniform: FloatArray
    death_cycle: FloatArray
    lost_fraction: FloatArray
    prep_time_factor: FloatArray
    cycling_time_factor: FloatArray
    is_noisy: bool

    @classmethod
    def neutral(cls, n_cells: int) -> CellDraws:
        """Draws that leave the deterministic core unchanged (no failures).

        Args:
            n_cells: Number of cells.

        Returns:
            Unit factors, zero offsets and uniforms of 1 (nothing triggers).
        """
        ones: FloatArray = np.ones(n_cells)
        zeros: FloatArray = np.zeros(n_cells)
        return cls(
            cocn_factor=ones,
            nitridation_offset_c=zeros,
            capacity_factor=ones,
            fade_factor=ones,
            ce_offset=zeros,
            voltage_offset_v=zeros,
            eucar_noise=np.zeros((n_cells, 3)),
            failure_uniform=np.ones((n_cells, 4)),
            lost_uniform=ones,
            death_cycle=np.full(n_cells, np.inf),
            lost_fraction=ones,
            prep_time_factor=ones,
            cycling_time_factor=ones,
            is_noisy=False,
        )


def draw_cells(rng: np.random.Generator, loading_mg_cm2: FloatArray) -> CellDraws:
    """Draw the batch, cell, safety, failure and timing noise of each cell.

    Each cell gets its own synthesis batch (the simulator always counts a fresh
    synthesis, see the README).

    Args:
        rng: Source of randomness, advanced by the call.
        loading_mg_cm2: Li2S loading per cell (capacity scatter grows with it).

    Returns:
        The draws of `len(loading_mg_cm2)` cells.
    """
    n = int(loading_mg_cm2.shape[0])
    capacity_sd = CAPACITY_SD * (1.0 + CAPACITY_SD_PER_MG_CM2 * (loading_mg_cm2 - 1.0))
    return CellDraws(
        cocn_factor=1.0 + COCN_BATCH_SD * rng.standard_normal(n),
        nitridation_offset_c=NITRIDATION_BATCH_SD_C * rng.standard_normal(n),
        capacity_factor=np.exp(capacity_sd * rng.standard_normal(n)),
        fade_factor=np.exp(FADE_SD * rng.standard_normal(n)),
        ce_offset=CE_SD * rng.standard_normal(n),
        voltage_offset_v=VOLTAGE_SD_V * rng.standard_normal(n),
        eucar_noise=EUCAR_SD * rng.standard_normal((n, 3)),
        failure_uniform=rng.random((n, 4)),
        lost_uniform=rng.random(n),
        death_cycle=np.floor(rng.uniform(*DEATH_CYCLE_RANGE, size=n)),
        lost_fraction=rng.random(n),
        prep_time_factor=np.exp(PREP_TIME_SD * rng.standard_normal(n)),
        cycling_time_factor=np.exp(CYCLING_TIME_SD * rng.standard_normal(n)),
        is_noisy=True,
    )


def measurement_factors(
    rng: np.random.Generator, n_cells: int, cycles: int
) -> FloatArray:
    """Per-cycle multiplicative reading errors, a `n x cycles` array.

    AR(1) errors (phi 0.7, marginal sd 0.4%) times rare one-cycle glitches (-3%
    with probability 0.5% per cycle).

    Args:
        rng: Source of randomness, advanced by the call.
        n_cells: Number of cells.
        cycles: Number of cycles.

    Returns:
        Factors near 1 that multiply the true capacities.
    """
    shocks = rng.standard_normal((cycles, n_cells))
    errors = np.empty((cycles, n_cells))
    errors[0] = CYCLE_SD * shocks[0]
    innovation_sd = CYCLE_SD * np.sqrt(1.0 - CYCLE_AR**2)
    for j in range(1, cycles):
        errors[j] = CYCLE_AR * errors[j - 1] + innovation_sd * shocks[j]
    glitches = rng.random((n_cells, cycles)) < GLITCH_PROBABILITY
    return (1.0 + errors.T) * (1.0 - GLITCH_DEPTH * glitches)


def sudden_death(
    curves: FloatArray, death_cycle: FloatArray, is_dead: BoolArray
) -> FloatArray:
    """Collapse the capacity of failing cells from their death cycle on.

    From cycle ``n_f`` the capacity shrinks tenfold every 8 cycles (below 20%
    within about 6 cycles) down to a floor of 2% of the undamaged value.

    Args:
        curves: `n x cycles` capacities.
        death_cycle: First cycle (1-based) of the collapse per cell.
        is_dead: Which cells fail.

    Returns:
        A new `n x cycles` array.
    """
    if not is_dead.any():
        return curves
    cycle = np.arange(1, curves.shape[1] + 1, dtype=np.float64)
    since = cycle[None, :] - death_cycle[is_dead, None] + 1.0
    damage = np.where(since > 0, np.maximum(0.02, 10.0 ** (-since / 8.0)), 1.0)
    result = curves.copy()
    result[is_dead] *= damage
    return result
