"""What the lab expects of the cell before measuring, from CELL.md and the paper.

The ``gp`` strategy adds this expectation to its outcome models' means (``[gp]
prior = "campaigns.li2s_si.prior:expected"`` in ``campaign.toml``) and fits how
the cells differ from it; a fitted weight per outcome scales each expectation.
It uses only what ``shared/paper/CELL.md`` states and the published figures of
``calibration.csv``, not the simulator's equations (``SCIENCE.md``).

Specific energy, the mass balance:

- 827 mAh/g of Li2S at 1.0 mg/cm2 and an average voltage of 1.55 V (802 Wh/kg on
  Li2S + Si at the nominal point);
- utilisation falls with loading: the full cells in the gel give 827 mAh/g at
  1.0 mg/cm2 and about 689 at 2.5 (calibration P19, P21), so each extra mg/cm2
  keeps (689 / 827)^(1 / 1.5) = 0.885 of the capacity (an exponential fall: two
  points cannot tell its shape). The half cells in liquid electrolyte lose only
  about 3.3 % per mg/cm2 (800.8 / 710 / 660 mAh/g at 2.5 / 5.2 / 7.4), but a
  full cell in the gel is what the campaign builds; with the half cells' slope the
  expected energy kept rising to 6-8 mg/cm2;
- electrode masses: 65 wt% Li2S in the cathode, 62.4 wt% Si in the anode, and
  m_Si / m_Li2S = 0.5 x N/P (2.5 g of electrodes per g of Li2S at N/P 1.2);
- N/P below 1 leaves too little Si for the lithium: the anode caps the capacity;
- the objective counts 4 mg/cm2 of inactive mass besides the electrodes.

Retention and safety, the lithium-plating cliff: "too little Si (N/P < 1) plates
lithium, which costs retention and safety". Above it, the published cell: 68 %
retention at cycle 100 (67.7 / 68.5 % at 1.0 / 2.5 mg/cm2) and a score of 80 (it
passes the abuse tests: EUCAR levels about 1.4, 100 x (1 - 1.4 / 7)). Below it, a
cell that plates behaves like the Li-metal cells that fail them (EUCAR about 3.5:
a score of 50) and loses its capacity. The step is a logistic in N/P centred on 1
with a width of 0.03 (a guess: plating sets in over a few hundredths of N/P).

Safety and stored energy: a nail or a short releases the energy the cell stores, so
the abuse tests grow harsher with the energy per cm2 (SCIENCE.md §7). The published
cell stores 1.28 mWh/cm2 (827 mAh/g x 1.55 V x 1.0 mg/cm2) and scores 80; the
expectation loses 4 points per further 1.28 mWh/cm2 (a guess of the size, about a
quarter of a EUCAR level; with 2 or 8 points the surrogate's picks measured alike).

What it leaves out (the CoN content, the nitridation, the gel, fade, plating
losses beyond the capacity cap) the GP learns from the measurements; the fitted
weight scales the whole expectation where it is off.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "areal_energy_mwh_cm2",
    "electrode_energy_wh_kg",
    "expected",
    "no_plating",
    "retention_pct",
    "safety_score",
    "specific_energy_wh_kg",
]

Q_NOMINAL_MAH_G = 827.0  # first discharge at 1.0 mg/cm2, 0.2C
V_AVERAGE = 1.55  # V, from 802 Wh/kg on Li2S + Si
UTILISATION_KEPT_PER_MG_CM2 = (689.0 / 827.0) ** (1.0 / 1.5)  # full cells, 1 -> 2.5
LI2S_IN_CATHODE = 0.65
SI_IN_ANODE = 0.624
SI_PER_LI2S_PER_NP = 0.5  # m_Si / m_Li2S = 0.5 x N/P
INACTIVE_MG_CM2 = 4.0  # current collectors, separator and gel, per cm2
RETENTION_PCT = 68.0  # cycle 100, published cell
SAFETY_PASSING = 80.0  # passes the abuse tests (EUCAR ~1.4)
SAFETY_PLATING = 50.0  # like a Li-metal cell (EUCAR ~3.5)
PLATING_NP = 1.0  # N/P below which lithium plates
PLATING_WIDTH = 0.03  # N/P, width of the logistic step (a guess)
NOMINAL_AREAL_MWH_CM2 = Q_NOMINAL_MAH_G * V_AVERAGE * 1.0 / 1000.0  # 1.28, at 1 mg/cm2
SAFETY_PER_NOMINAL_ENERGY = 4.0  # score points per further 1.28 mWh/cm2 (a guess)


def _capacity_mah_g(
    loading: NDArray[np.float64], np_ratio: NDArray[np.float64]
) -> NDArray[np.float64]:
    utilisation = UTILISATION_KEPT_PER_MG_CM2 ** (np.asarray(loading) - 1.0)
    return Q_NOMINAL_MAH_G * utilisation * np.minimum(np.asarray(np_ratio), 1.0)


def electrode_energy_wh_kg(
    loading: ArrayLike, np_ratio: ArrayLike
) -> NDArray[np.float64]:
    """Expected energy per mass of both electrodes, Wh/kg (513 at the nominal cell)."""
    L, NP = np.asarray(loading, dtype=float), np.asarray(np_ratio, dtype=float)
    electrodes = 1.0 / LI2S_IN_CATHODE + SI_PER_LI2S_PER_NP * NP / SI_IN_ANODE
    return np.asarray(_capacity_mah_g(L, NP) * V_AVERAGE / electrodes)


def areal_energy_mwh_cm2(
    loading: ArrayLike, np_ratio: ArrayLike
) -> NDArray[np.float64]:
    """Expected energy stored per cm2 of cell, mWh/cm2 (1.28 at the published cell)."""
    L, NP = np.asarray(loading, dtype=float), np.asarray(np_ratio, dtype=float)
    return np.asarray(_capacity_mah_g(L, NP) * V_AVERAGE * L / 1000.0)


def specific_energy_wh_kg(
    loading: ArrayLike, np_ratio: ArrayLike
) -> NDArray[np.float64]:
    """Expected cell-level energy, Wh/kg: electrodes plus 4 mg/cm2 inactive mass."""
    L, NP = np.asarray(loading, dtype=float), np.asarray(np_ratio, dtype=float)
    electrodes = 1.0 / LI2S_IN_CATHODE + SI_PER_LI2S_PER_NP * NP / SI_IN_ANODE
    stored_uwh_cm2 = 1000.0 * areal_energy_mwh_cm2(L, NP)
    return np.asarray(stored_uwh_cm2 / (L * electrodes + INACTIVE_MG_CM2))  # uWh/mg


def no_plating(np_ratio: ArrayLike) -> NDArray[np.float64]:
    """1 well above N/P 1, 0 well below: the expected share of cells that do not plate."""
    NP = np.asarray(np_ratio, dtype=float)
    return np.asarray(1.0 / (1.0 + np.exp(-(NP - PLATING_NP) / PLATING_WIDTH)))


def retention_pct(np_ratio: ArrayLike) -> NDArray[np.float64]:
    """Expected capacity retention at cycle 100, %: 68 unless the cell plates."""
    return np.asarray(RETENTION_PCT * no_plating(np_ratio))


def safety_score(np_ratio: ArrayLike, loading: ArrayLike = 1.0) -> NDArray[np.float64]:
    """Expected safety score: 80 (passes), falling to 50 where the cell plates.

    Less where the cell stores more energy per cm2: 4 points per 1.28 mWh/cm2
    beyond the published cell's (``loading`` in mg/cm2, 1.0 by default).
    """
    ok = no_plating(np_ratio)
    stored = areal_energy_mwh_cm2(loading, np_ratio) / NOMINAL_AREAL_MWH_CM2
    cliff = SAFETY_PLATING + (SAFETY_PASSING - SAFETY_PLATING) * ok
    return np.asarray(cliff - SAFETY_PER_NOMINAL_ENERGY * (stored - 1.0))


def expected(settings: Mapping[str, ArrayLike]) -> dict[str, NDArray[np.float64]]:
    """The lab's expectation of the cell (the ``[gp] prior`` of the campaign).

    Args:
        settings: ``{knob: array}`` in the campaign's units; uses
            ``li2s_loading_mg_cm2`` (mg/cm2) and ``np_ratio`` (-).

    Returns:
        ``specific_energy_wh_kg`` (Wh/kg), ``retention_pct`` (%) and
        ``safety_score`` (0-100) arrays.
    """
    np_ratio = settings["np_ratio"]
    return {
        "specific_energy_wh_kg": specific_energy_wh_kg(
            settings["li2s_loading_mg_cm2"], np_ratio
        ),
        "retention_pct": retention_pct(np_ratio),
        "safety_score": safety_score(np_ratio, settings["li2s_loading_mg_cm2"]),
    }
