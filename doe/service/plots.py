"""The Pareto plot of a campaign as PNG bytes (matplotlib's Agg canvas, no pyplot).

A ``Figure`` with its own Agg canvas keeps no global state, so request threads can
draw at the same time.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from doe.campaign import Campaign
    from doe.ledger import TrialRecord
    from doe.objectives import Objective

__all__ = ["pareto_png"]


def _label(o: Objective) -> str:
    arrow = "↑" if o.direction == "maximize" else "↓"
    unit = f" [{o.unit}]" if o.unit and o.unit != "-" else ""
    return f"{o.name}{unit} {arrow}"


def _draw(
    ax: Any, campaign: Campaign, done: list[TrialRecord], front: set[int]
) -> None:
    """Scatter the measured experiments; join the front in red."""
    d = campaign.definition
    objs = d.objectives
    meets = [
        all(bool(lim.is_met(t.outcomes.get(lim.name, math.nan))) for lim in d.limits)
        for t in done
    ]
    if len(objs) >= 2:
        xs = [t.outcomes[objs[0].name] for t in done]
        ys = [t.outcomes[objs[1].name] for t in done]
        ax.set_xlabel(_label(objs[0]))
        ax.set_ylabel(_label(objs[1]))
    else:
        xs = [float(t.number) for t in done]
        ys = [t.outcomes[objs[0].name] for t in done]
        ax.set_xlabel("trial")
        ax.set_ylabel(_label(objs[0]))
    for good, face, label in ((True, "tab:blue", "meets limits"), (False, "none", "breaks a limit")):  # fmt: skip
        idx = [i for i, m in enumerate(meets) if m is good]
        if idx:
            ax.scatter(
                [xs[i] for i in idx],
                [ys[i] for i in idx],
                s=40,
                facecolors=face,
                edgecolors="tab:blue",
                label=label,
            )
    on = sorted((xs[i], ys[i]) for i, t in enumerate(done) if t.number in front)
    if on:
        ax.plot(*zip(*on, strict=True), "o-", color="tab:red", label="Pareto front")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)


def pareto_png(campaign: Campaign) -> bytes:
    """The measured experiments and the Pareto front, on the first two objectives.

    One objective: its values against the trial number. Experiments that break an
    outcome limit are drawn hollow; the front is red.

    Returns:
        The PNG file's bytes (640 x 480 pixels; 640 x 120 while nothing is measured).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    trials = campaign.trials()
    done = [t for t in trials if t.state == "complete"]
    front = {int(n) for n in campaign.pareto()["trial"]} if done else set()
    height = 4.8 if done else 1.2  # an empty plot stays small on the page
    fig = Figure(figsize=(6.4, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if done:
        _draw(ax, campaign, done, front)
    else:
        ax.text(0.5, 0.5, "No measured experiments yet", ha="center", va="center")
        ax.set_axis_off()
    n_obj = len(campaign.definition.objectives)
    more = f" (first 2 of {n_obj} objectives)" if n_obj > 2 else ""
    ax.set_title(f"{campaign.name}: {len(done)} measured{more}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
