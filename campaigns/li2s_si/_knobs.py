"""Knobs, test conditions and outcomes of the simulated Li2S||Si cell.

The five knobs and their sensible ranges come from the campaign's CELL.md table
(seed paper: Energy Environ. Sci. 2021, 14, 2278, doi 10.1039/d0ee03037f). The valid
range of every knob is its sensible range; the simulator refuses anything outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Knob:
    """One setting of an experiment: a recipe knob or a test condition.

    Attributes:
        name: Identifier used in settings dictionaries, with a unit suffix.
        unit: Physical unit, "-" for dimensionless ratios.
        nominal: The paper's value (the default for test conditions).
        low: Lowest valid value (inclusive).
        high: Highest valid value (inclusive).
        description: What the knob means in the lab.
    """

    name: str
    unit: str
    nominal: float
    low: float
    high: float
    description: str

    def __post_init__(self) -> None:
        if not self.low <= self.nominal <= self.high:
            raise ValueError(
                f"Knob {self.name!r}: nominal {self.nominal!r} must lie in "
                f"[{self.low!r}, {self.high!r}]."
            )

    @property
    def range_text(self) -> str:
        """The valid range with its unit, e.g. ``"[0.9, 2.0] (-)"``."""
        return f"[{float(self.low)!r}, {float(self.high)!r}] ({self.unit})"


class Outcome(NamedTuple):
    """A scalar outcome of one simulated experiment: (name, unit, description)."""

    name: str
    unit: str
    description: str


KNOBS: tuple[Knob, ...] = (
    Knob(
        "co_precursor_g",
        "g",
        0.4,
        0.05,
        1.0,
        "Co(Ac)2·4H2O per electrospinning batch (with 1.2 g PAN + 1.2 g PMMA); "
        "0.4 g gives 22.7 wt% CoN in the host.",
    ),
    Knob(
        "nitridation_temp_c",
        "C",
        400.0,
        300.0,
        550.0,
        "NH3 annealing temperature (2 h) that turns Co particles into hollow CoN.",
    ),
    Knob(
        "li2s_loading_mg_cm2",
        "mg/cm2",
        1.0,
        0.5,
        8.0,
        "Li2S areal loading of the cathode.",
    ),
    Knob(
        "eo_li_ratio",
        "mol/mol",
        20.0,
        6.0,
        40.0,
        "PEO ethylene-oxide units per Li in the gel polymer electrolyte.",
    ),
    Knob(
        "np_ratio",
        "-",
        1.2,
        0.9,
        2.0,
        "Anode/cathode capacity ratio (N/P) of the full cell.",
    ),
)
"""The five recipe knobs the optimizer sets, in the order of 2-D settings arrays."""

KNOB_NAMES: tuple[str, ...] = tuple(knob.name for knob in KNOBS)
"""Knob names in `KNOBS` order."""

NOMINAL: dict[str, float] = {knob.name: knob.nominal for knob in KNOBS}
"""The paper's recipe; treat as read-only and copy (``dict(NOMINAL)``) to change."""

CONDITIONS: tuple[Knob, ...] = (
    Knob("temperature_c", "C", 30.0, -20.0, 60.0, "Cycling test temperature."),
    Knob(
        "c_rate",
        "-",
        0.2,
        0.05,
        2.0,
        "Charge and discharge rate; one cycle takes 2/c_rate hours.",
    ),
    Knob("cycles", "cycles", 500, 100, 2000, "Number of cycles to simulate."),
)
"""Test conditions of `SimulatedCell.evaluate`; `nominal` holds the default."""

OUTCOMES: tuple[Outcome, ...] = (
    Outcome(
        "initial_capacity_mah_g",
        "mAh/g",
        "First discharge capacity per gram of Li2S at the test conditions.",
    ),
    Outcome(
        "capacity_100_mah_g", "mAh/g", "Discharge capacity per gram Li2S, cycle 100."
    ),
    Outcome("retention_pct", "%", "Capacity at cycle 100 over capacity at cycle 1."),
    Outcome(
        "coulombic_efficiency_pct",
        "%",
        "Steady-state coulombic efficiency (discharge over charge).",
    ),
    Outcome("average_voltage_v", "V", "Average discharge voltage of the full cell."),
    Outcome(
        "areal_capacity_mah_cm2",
        "mAh/cm2",
        "First discharge capacity per cathode area.",
    ),
    Outcome(
        "specific_energy_wh_kg",
        "Wh/kg",
        "Cell-level proxy: electrode materials plus 4 mg/cm2 of inactive parts.",
    ),
    Outcome(
        "specific_energy_active_wh_kg",
        "Wh/kg",
        "Per mass of Li2S + Si (paper: 802 at the nominal recipe).",
    ),
    Outcome(
        "specific_energy_electrode_wh_kg",
        "Wh/kg",
        "Per mass of both electrodes incl. carbon and CoN (paper: 506).",
    ),
    Outcome(
        "self_discharge_pct", "%", "Capacity lost over a 12 h rest at full charge."
    ),
    Outcome(
        "safety_score",
        "-",
        "0-100 from the EUCAR levels of nail, external-short and heat tests.",
    ),
    Outcome(
        "duration_h",
        "h",
        "Lab time: synthesis, cell build and 100 cycles at the test C-rate.",
    ),
)
"""Scalar outcomes returned by `SimulatedCell.evaluate`."""
