"""Deterministic core of the simulated Li2S||Si quasi-solid cell.

Implements the model of the campaign's SCIENCE.md §8 (h-CoN@MCNF/Li2S | PEO-LiTFSI
gel | Si-NP@MCNF), calibrated on the seed paper (Energy Environ. Sci. 2021, 14, 2278,
doi 10.1039/d0ee03037f). Every function is vectorised: array arguments and results
have shape `n` (one entry per cell) unless stated. Provenance tags on constants:
[P] paper, [L] literature, [A] assumption or calibration constant. The README of
this package lists every equation.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Reference point -------------------------------------------------------------------
Q_REF_MAH_G = 827.0  # [P] P19: first discharge at the nominal recipe, 0.2C
T_REF_C = 30.0  # [A] the paper's room-temperature runs map to the model's 30 C
C_RATE_REF = 0.2  # [P] nominal test rate
V_OPEN_V = 1.5685  # [A] 1.552 V average at nominal (802 Wh/kg) + nominal I*R drop

# §2 catalyst: precursor -> CoN content -> utilisation -------------------------------
COCN_PER_PRECURSOR = 72.94 / 249.08  # [P] g CoN per g Co(Ac)2·4H2O
CARBON_PER_BATCH_G = 0.399  # [A] 33% carbon yield of 1.2 g PAN; PMMA burns off
COCN_NOMINAL = 0.227  # [P] wt% CoN of the host at 0.4 g precursor
LI2S_PART, CARBON_PART = 65.0, 27.1  # [P] 65 wt% Li2S; carbon per 65 g Li2S [A]
SI_FRACTION = 0.624  # [P] Si in the anode fabric
INACTIVE_MG_CM2 = 4.0  # [A] separator, current collectors, packaging per cm2

# §4 gel electrolyte ---------------------------------------------------------------
EO_LI_NOMINAL = 20.0  # [P]
T_HALF_NOMINAL_C = -9.1  # [A] low-temperature knee of the gel at EO/Li 20

# Rate capability beyond the Thiele term: polarisation utilisation [A], fitted to
# P22/P23 (0.5C, 2C at 25 C) and P29/P30 (2C at 60 C and -20 C).
KINETIC_SCALE = 0.198
KINETIC_POWER = 1.512
KINETIC_T_SLOPE_PER_C = 0.0105


def sigmoid(z: FloatArray | float) -> FloatArray:
    """Logistic function without overflow warnings.

    Args:
        z: Argument, any shape.

    Returns:
        ``1 / (1 + exp(-z))`` with the shape of ``z``.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


# §1-§2: synthesis ------------------------------------------------------------------
def cocn_fraction(co_precursor_g: FloatArray) -> FloatArray:
    """CoN mass fraction of the MCNF host from the Co precursor mass (§2)."""
    cocn_g = COCN_PER_PRECURSOR * co_precursor_g
    return cocn_g / (cocn_g + CARBON_PER_BATCH_G)


def _raw_activity(nitridation_temp_c: FloatArray | float) -> FloatArray:
    conversion = sigmoid((nitridation_temp_c - 340.0) / 20.0)
    cocn_share = sigmoid((470.0 - nitridation_temp_c) / 25.0)
    dispersion = sigmoid((560.0 - nitridation_temp_c) / 40.0)
    phase_gain = cocn_share * 1.0 + (1.0 - cocn_share) * 0.7 - 0.3
    return 0.3 + conversion * phase_gain * (0.4 + 0.6 * dispersion)


def catalyst_activity(nitridation_temp_c: FloatArray) -> FloatArray:
    """Relative catalytic activity of the Co-N phase, 1 at 400 C (§1).

    Weights: CoN 1.0, Co4N/Co3N 0.7, metallic Co 0.3, times a sintering loss.
    """
    return _raw_activity(nitridation_temp_c) / _raw_activity(400.0)


def catalyst_gain(dose: FloatArray) -> FloatArray:
    """Utilisation gain from the catalytic dose, 1 at dose 1, saturating (§2)."""
    return (1.0 - 0.28 * np.exp(-dose / 0.5)) / (1.0 - 0.28 * float(np.exp(-2.0)))


def agglomeration_loss(cocn_frac: FloatArray) -> FloatArray:
    """Utilisation loss from CoN agglomeration above 32 wt% (§2)."""
    return np.exp(-((np.maximum(0.0, cocn_frac - 0.32) / 0.25) ** 2))


def li2s_fraction(cocn_frac: FloatArray) -> FloatArray:
    """Li2S mass fraction of the cathode; extra CoN is inactive mass (§2)."""
    extra_cocn = CARBON_PART * cocn_frac / (1.0 - cocn_frac)
    return LI2S_PART / (LI2S_PART + CARBON_PART + extra_cocn)


# §4: gel electrolyte ---------------------------------------------------------------
def _log_bump(eo_li_ratio: FloatArray | float) -> FloatArray:
    return np.exp(-(np.log(np.asarray(eo_li_ratio) / 12.0) ** 2) / 0.72)


def gel_conductivity(eo_li_ratio: FloatArray) -> FloatArray:
    """Relative gel conductivity, peak at EO/Li 12, 1 at 20 (§4)."""
    return _log_bump(eo_li_ratio) / _log_bump(EO_LI_NOMINAL)


def gel_knee_temperature_c(eo_li_ratio: FloatArray) -> FloatArray:
    """Low-temperature knee of capacity; rises with PEO crystallinity (§4)."""
    return T_HALF_NOMINAL_C + 8.0 * np.log(eo_li_ratio / EO_LI_NOMINAL)


def gel_modulus(eo_li_ratio: FloatArray) -> FloatArray:
    """Relative modulus of the gel, 1 at EO/Li 20, capped at 1.3 (§4)."""
    return np.minimum(1.3, (eo_li_ratio / (eo_li_ratio + 10.0)) / (2.0 / 3.0))


def gel_shuttle(eo_li_ratio: FloatArray) -> FloatArray:
    """Polysulfide-shuttle multiplier of the gel, minimum near EO/Li 18 (§4)."""
    bump = 1.0 + 0.5 * np.log(eo_li_ratio / 18.0) ** 2
    return bump / (1.0 + 0.5 * float(np.log(EO_LI_NOMINAL / 18.0)) ** 2)


# §3, §5, §8: utilisation terms ---------------------------------------------------
def thermal_utilisation(temperature_c: float, knee_c: FloatArray) -> FloatArray:
    """Capacity factor of the test temperature, 1 at 30 C and EO/Li 20 (§8)."""
    reference = sigmoid((T_REF_C - T_HALF_NOMINAL_C) / 20.0)
    return sigmoid((temperature_c - knee_c) / 20.0) / reference


def _effectiveness(loading: FloatArray, depth: FloatArray | float) -> FloatArray:
    return (depth / loading) * np.tanh(loading / depth)


_NOMINAL_EFFECTIVENESS = 2.8 * float(np.tanh(1.0 / 2.8))  # 1 mg/cm2 at 0.2C


def loading_utilisation(
    loading_mg_cm2: FloatArray,
    c_rate: float,
    conductivity: FloatArray,
    cat_gain: FloatArray,
) -> FloatArray:
    """Thiele-type effectiveness of a thick cathode, 1 at 1 mg/cm2 and 0.2C (§3)."""
    depth = (
        2.8
        * np.sqrt(C_RATE_REF / c_rate)
        * np.sqrt(conductivity)
        * np.sqrt(0.5 + 0.5 * cat_gain)
    )
    return _effectiveness(loading_mg_cm2, depth) / _NOMINAL_EFFECTIVENESS


def kinetic_utilisation(c_rate: float, temperature_c: float) -> float:
    """Polarisation loss above 0.2C, stronger at high test temperature [A].

    ``g = (1 / (1 + a * ln(C / 0.2)^b)) ** s(T)``, ``s = 1 + 0.0105 (T - 30)``. It
    is 1 at and below 0.2C and closes the gap between the Thiele term and the
    paper's rate tests (P22, P23, P29, P30).
    """
    log_rate = max(0.0, float(np.log(c_rate / C_RATE_REF)))
    exponent = max(0.2, 1.0 + KINETIC_T_SLOPE_PER_C * (temperature_c - T_REF_C))
    return float((1.0 / (1.0 + KINETIC_SCALE * log_rate**KINETIC_POWER)) ** exponent)


def plating_index(np_ratio: FloatArray) -> FloatArray:
    """Lithium-plating index: 0 for N/P >= 1.05, 1 for N/P <= 0.90 (§5)."""
    return np.clip((1.05 - np_ratio) / 0.15, 0.0, 1.0)


def anode_excess_loss(np_ratio: FloatArray) -> FloatArray:
    """Capacity factor of an over-sized Si anode (lower ICE), §5 (Reuter 2019)."""
    return np.exp(-0.144 * np.maximum(0.0, np_ratio - 1.2))


@dataclass(frozen=True)
class Design:
    """Quantities fixed by the recipe (not by the test); arrays of shape `n`.

    Masses are per gram of Li2S in the cathode.
    """

    loading_mg_cm2: FloatArray
    np_ratio: FloatArray
    eo_li_ratio: FloatArray
    nitridation_temp_c: FloatArray
    cocn_frac: FloatArray
    dose: FloatArray
    cat_gain: FloatArray
    agglomeration: FloatArray
    conductivity: FloatArray
    knee_c: FloatArray
    modulus: FloatArray
    shuttle_gel: FloatArray
    plating: FloatArray
    si_g_per_g: FloatArray
    cathode_g_per_g: FloatArray
    anode_g_per_g: FloatArray


def design_cell(
    knobs: Mapping[str, FloatArray],
    *,
    cocn_factor: FloatArray | float = 1.0,
    nitridation_offset_c: FloatArray | float = 0.0,
) -> Design:
    """Turn recipes into the design quantities of §2-§5.

    Args:
        knobs: One float array of shape `n` per knob name.
        cocn_factor: Synthesis-batch multiplier on the CoN fraction (noise).
        nitridation_offset_c: Synthesis-batch error of the NH3 temperature, C.

    Returns:
        The design of each cell; the Si anode is balanced to the cathode's
        expected capacity at 30 C and 0.2C, as a lab would build it.
    """
    loading, np_ratio = knobs["li2s_loading_mg_cm2"], knobs["np_ratio"]
    eo_li = knobs["eo_li_ratio"]
    t_n = knobs["nitridation_temp_c"] + nitridation_offset_c
    frac = np.clip(cocn_fraction(knobs["co_precursor_g"]) * cocn_factor, 0.0, 0.9)
    dose = catalyst_activity(t_n) * frac / COCN_NOMINAL
    gain, conductivity = catalyst_gain(dose), gel_conductivity(eo_li)
    knee = gel_knee_temperature_c(eo_li)
    reference_q = (
        Q_REF_MAH_G
        * gain
        * agglomeration_loss(frac)
        * loading_utilisation(loading, C_RATE_REF, conductivity, gain)
        * thermal_utilisation(T_REF_C, knee)
    )
    si = 0.5 * np_ratio * reference_q / Q_REF_MAH_G
    return Design(
        loading_mg_cm2=loading,
        np_ratio=np_ratio,
        eo_li_ratio=eo_li,
        nitridation_temp_c=t_n,
        cocn_frac=frac,
        dose=dose,
        cat_gain=gain,
        agglomeration=agglomeration_loss(frac),
        conductivity=conductivity,
        knee_c=knee,
        modulus=gel_modulus(eo_li),
        shuttle_gel=gel_shuttle(eo_li),
        plating=plating_index(np_ratio),
        si_g_per_g=si,
        cathode_g_per_g=1.0 / li2s_fraction(frac),
        anode_g_per_g=si / SI_FRACTION,
    )


@dataclass(frozen=True)
class Performance:
    """Cycle-1 behaviour of each cell at one test condition; arrays of shape `n`."""

    capacity_mah_g: FloatArray
    current_ma_cm2: FloatArray
    voltage_v: FloatArray
    fade_rate: FloatArray
    shuttle: FloatArray
    coulombic_efficiency: FloatArray
    self_discharge_pct: FloatArray


def initial_capacity(design: Design, temperature_c: float, c_rate: float) -> FloatArray:
    """First discharge capacity in mAh/g Li2S at the test condition (§8)."""
    return (
        Q_REF_MAH_G
        * design.cat_gain
        * design.agglomeration
        * loading_utilisation(
            design.loading_mg_cm2, c_rate, design.conductivity, design.cat_gain
        )
        * thermal_utilisation(temperature_c, design.knee_c)
        * kinetic_utilisation(c_rate, temperature_c)
        * anode_excess_loss(design.np_ratio)
        * (1.0 - 0.25 * design.plating)
    )


def shuttle_factor(design: Design, temperature_c: float) -> FloatArray:
    """Shuttle multiplier S_sh from catalyst dose, gel and temperature (§8)."""
    dose = design.dose
    by_dose = np.where(dose >= 1.0, 1.0 / (1.0 + 0.8 * (dose - 1.0)), 2.0 - dose)
    heat = float(np.exp(0.035 * max(0.0, temperature_c - T_REF_C)))
    return by_dose * design.shuttle_gel * heat


def perform(design: Design, temperature_c: float, c_rate: float) -> Performance:
    """Cycle-1 capacity, voltage, fade rate, CE and self-discharge (§8).

    Args:
        design: The cells.
        temperature_c: Test temperature, C.
        c_rate: Test rate (1C discharges the cell's capacity in one hour).

    Returns:
        The performance of each cell at that condition.
    """
    capacity = initial_capacity(design, temperature_c, c_rate)
    current = c_rate * capacity * design.loading_mg_cm2 / 1000.0
    thermal = thermal_utilisation(temperature_c, design.knee_c)
    resistance = 20.0 / (design.conductivity * np.maximum(thermal, 0.05)) + 80.0 / (
        0.3 + 0.7 * design.cat_gain
    )
    shuttle = shuttle_factor(design, temperature_c)
    thick = 1.0 + 0.06 * np.maximum(0.0, design.loading_mg_cm2 - 2.5) ** 1.5
    fade = shuttle * thick * (1.2 / design.np_ratio) * (1.0 + 6.0 * design.plating)
    return Performance(
        capacity_mah_g=capacity,
        current_ma_cm2=current,
        voltage_v=V_OPEN_V - current * resistance / 1000.0,
        fade_rate=fade,
        shuttle=shuttle,
        coulombic_efficiency=1.0 - 0.024 * shuttle - 0.05 * design.plating,
        self_discharge_pct=4.1 * shuttle,
    )


def capacity_curves(
    initial_mah_g: FloatArray, fade_rate: FloatArray, cycle_index: NDArray[np.int64]
) -> FloatArray:
    """Discharge capacity at the given cycles, a `n x len(cycle_index)` array (§8).

    ``Q(j) = Q1 [0.15 exp(-0.1 k (j-1)) + 0.85 exp(-((j-1)/N)^0.7)]`` with
    ``N = 821 / k^(1/0.7)``: a fast polysulfide-loss term and a stretched-
    exponential slow fade, non-increasing in j.

    Args:
        initial_mah_g: Cycle-1 capacity per cell, shape `n`.
        fade_rate: Fade multiplier k per cell (1 at the nominal recipe).
        cycle_index: 0-based cycle numbers ``j - 1`` to evaluate.

    Returns:
        The capacities in mAh/g Li2S.
    """
    index = np.asarray(cycle_index, dtype=np.float64)
    fast: FloatArray = np.exp(np.outer(-0.1 * fade_rate, index))
    slow: FloatArray = np.exp(np.outer(-fade_rate / 821.0**0.7, index**0.7))
    return initial_mah_g[:, None] * (0.15 * fast + 0.85 * slow)


@dataclass(frozen=True)
class Energy:
    """Specific energies in Wh/kg at cycle 1; arrays of shape `n`."""

    active_wh_kg: FloatArray
    electrode_wh_kg: FloatArray
    cell_wh_kg: FloatArray


def specific_energy(
    design: Design, capacity_mah_g: FloatArray, voltage_v: FloatArray
) -> Energy:
    """Specific energy on Li2S+Si, on both electrodes, and at cell level (§3, §8)."""
    per_li2s = capacity_mah_g * voltage_v  # Wh per kg Li2S
    electrodes = design.cathode_g_per_g + design.anode_g_per_g
    loading = design.loading_mg_cm2
    return Energy(
        active_wh_kg=per_li2s / (1.0 + design.si_g_per_g),
        electrode_wh_kg=per_li2s / electrodes,
        cell_wh_kg=per_li2s * loading / (loading * electrodes + INACTIVE_MG_CM2),
    )


@functools.cache
def _nominal_areal_energy_and_current() -> tuple[float, float]:
    one = np.ones(1)
    knobs = {
        "co_precursor_g": 0.4 * one,
        "nitridation_temp_c": 400.0 * one,
        "li2s_loading_mg_cm2": one,
        "eo_li_ratio": EO_LI_NOMINAL * one,
        "np_ratio": 1.2 * one,
    }
    nominal = perform(design_cell(knobs), T_REF_C, C_RATE_REF)
    areal = nominal.capacity_mah_g * nominal.voltage_v / 1000.0
    return float(areal[0]), float(nominal.current_ma_cm2[0])


def hazard_levels(design: Design) -> FloatArray:
    """Expected EUCAR levels (nail, short, heat) of the charged cell, `n x 3` (§8).

    Computed at the reference condition (30 C, 0.2C): the abuse tests judge the
    cell design, not the cycling protocol.
    """
    reference = perform(design, T_REF_C, C_RATE_REF)
    areal_nominal, current_nominal = _nominal_areal_energy_and_current()
    areal_mwh_cm2 = (
        reference.capacity_mah_g * design.loading_mg_cm2 * reference.voltage_v / 1000.0
    )
    energy = areal_mwh_cm2 / areal_nominal  # ea: stored energy per cm2 over nominal
    soft = 1.0 / design.modulus - 1.0
    plating = design.plating
    nail = 1.2 + 0.3 * energy + 0.6 * soft + 3.0 * plating
    short = (
        0.6
        + 0.4 * np.sqrt(energy * reference.current_ma_cm2 / current_nominal)
        + 2.0 * plating
    )
    excess_cocn = 0.6 * np.maximum(0.0, design.cocn_frac - 0.3) / 0.1
    heat = 1.0 + 0.35 * energy + 0.4 * soft + excess_cocn + 2.5 * plating
    return np.stack([nail, short, heat], axis=1)


def safety_score(levels: FloatArray) -> FloatArray:
    """Safety score 0-100 from EUCAR levels (`n x 3`: nail, short, heat), §8."""
    sub = 100.0 * (1.0 - np.clip(levels, 0.0, 7.0) / 7.0)
    return 0.4 * sub[:, 0] + 0.3 * sub[:, 1] + 0.3 * sub[:, 2]


def failure_probabilities(design: Design) -> FloatArray:
    """Per-cause hard-failure probabilities, `n x 4` (§8).

    Columns: Li plating short, cracking/delamination, soft-gel short, brittle
    sintered fibres.
    """
    return np.stack(
        [
            0.5 * sigmoid((design.plating - 0.5) / 0.15),
            0.3 * sigmoid((design.loading_mg_cm2 - 6.5) / 0.4),
            0.3 * sigmoid((6.0 - design.eo_li_ratio) / 0.5),
            0.2 * sigmoid((design.nitridation_temp_c - 650.0) / 30.0),
        ],
        axis=1,
    )
