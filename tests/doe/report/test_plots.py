"""The campaign page's PNG plots, drawn from real ledgers."""

from __future__ import annotations

import copy
import io
from typing import Any

import numpy as np

from doe import Campaign
from doe.report.plots import pareto_png
from tests.conftest import TOY, toy_outcomes


def _measured(url: str, **changes: Any) -> Campaign:
    definition = {**copy.deepcopy(TOY), "strategy": "sobol", "tracking": False}
    c = Campaign.create({**definition, **changes}, storage=url)
    for s in c.suggest(8):
        c.record(s.trial_id, toy_outcomes(s.params))
    return c


def _viridis_pixels_at_the_right(png: bytes) -> int:
    """Pixels of viridis' darkest colour in the rightmost eighth of the image,
    where a colour bar of the third objective stands."""
    import matplotlib.image
    from matplotlib import colormaps

    rgb = matplotlib.image.imread(io.BytesIO(png), format="png")[:, -80:, :3]
    darkest = np.asarray(colormaps["viridis"](0.0)[:3])
    return int((np.abs(rgb - darkest).max(axis=-1) < 0.02).sum())


def test_a_third_objective_colours_the_pareto_plot(sqlite_url: str) -> None:
    two = _measured(sqlite_url)
    purity = {"name": "purity_pct", "direction": "maximize", "unit": "%"}
    three = _measured(
        sqlite_url,
        name="toy3",
        objectives=[*TOY["objectives"], purity],
        limits=[],
        outcomes={},
    )
    assert _viridis_pixels_at_the_right(pareto_png(three)) > 50  # a colour bar
    assert _viridis_pixels_at_the_right(pareto_png(two)) == 0
