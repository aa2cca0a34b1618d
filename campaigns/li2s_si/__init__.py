"""Simulated quasi-solid Li2S||Si cell (h-CoN@MCNF/Li2S | PEO gel | Si-NP@MCNF).

The campaign's stand-in for the lab: five recipe knobs in, capacity, retention,
energy, safety and lab time out. Pure numpy; imports nothing from ``doe`` or
``surrogates``. See README.md in this folder for the model and its calibration.
"""

from __future__ import annotations

from campaigns.li2s_si._knobs import (
    CONDITIONS,
    KNOB_NAMES,
    KNOBS,
    NOMINAL,
    OUTCOMES,
    Knob,
    Outcome,
)
from campaigns.li2s_si._validation import CellInputError
from campaigns.li2s_si.cell import (
    FAILURE_KINDS,
    SIMULATOR_VERSION,
    WARNING_MESSAGES,
    SimulatedCell,
)

__all__ = [
    "CONDITIONS",
    "FAILURE_KINDS",
    "KNOBS",
    "KNOB_NAMES",
    "NOMINAL",
    "OUTCOMES",
    "SIMULATOR_VERSION",
    "WARNING_MESSAGES",
    "CellInputError",
    "Knob",
    "Outcome",
    "SimulatedCell",
]
