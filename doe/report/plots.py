"""A campaign's plots as PNG bytes (matplotlib's Agg canvas, no pyplot).

The Pareto plot and the hypervolume after each round.

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

__all__ = ["pareto_png", "progress_png"]


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
    third = objs[2] if len(objs) >= 3 else None
    for good, label in ((True, "meets limits"), (False, "breaks a limit")):
        idx = [i for i, m in enumerate(meets) if m is good]
        if not idx:
            continue
        style: dict[str, Any] = {"facecolors": "none", "edgecolors": "tab:blue"}
        if good and third is not None:  # the third objective as the colour
            style = {
                "c": [done[i].outcomes[third.name] for i in idx],
                "cmap": "viridis",
            }
        elif good:
            style["facecolors"] = "tab:blue"
        points = ax.scatter(
            [xs[i] for i in idx], [ys[i] for i in idx], s=40, label=label, **style
        )
        if good and third is not None:
            ax.figure.colorbar(points, ax=ax, label=_label(third))
    on = sorted((xs[i], ys[i]) for i, t in enumerate(done) if t.number in front)
    if on and third is not None:  # a front in 3+ dimensions: rings, no line
        ax.scatter(*zip(*on, strict=True), s=110, facecolors="none",
                   edgecolors="tab:red", linewidths=1.5, label="Pareto front")  # fmt: skip
    elif on:
        ax.plot(*zip(*on, strict=True), "o-", color="tab:red", label="Pareto front")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)


def _figure(has_data: bool) -> tuple[Any, Any]:
    """A 640-pixel-wide figure with its own Agg canvas, and its axes.

    480 pixels high, or 120 while there is nothing to draw (it stays small on
    the page).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8 if has_data else 1.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _nothing_yet(ax: Any) -> None:
    ax.text(0.5, 0.5, "No measured experiments yet", ha="center", va="center")
    ax.set_axis_off()


def progress_png(campaign: Campaign) -> bytes:
    """Hypervolume against the experiments measured, after each suggestion round.

    A flat line over several rounds says the campaign is no longer finding better
    cells. Round 0 is the recorded (imported) data alone.

    Returns:
        The PNG file's bytes (640 x 480 pixels; 640 x 120 while nothing is measured).
    """
    rows = [r for r in campaign.hypervolume_by_round() if r["n_complete"] > 0]
    fig, ax = _figure(bool(rows))
    if rows:
        xs = [r["n_complete"] for r in rows]
        ys = [r["hypervolume"] for r in rows]
        ax.step(xs, ys, where="post", color="tab:blue")
        ax.plot(xs, ys, "o", color="tab:blue")
        labelled = rows if len(rows) <= 15 else []  # many rounds: no labels
        for r, x, y in zip(labelled, xs, ys, strict=False):
            ax.annotate(
                f"r{r['round']}",
                (x, y),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize="x-small",
            )
        ax.set_xlabel("experiments measured")
        ax.set_ylabel("hypervolume (limit-meeting cells)")
        ax.set_xlim(0, max(xs) + 1)
        ax.set_ylim(bottom=0.0)
        ax.grid(alpha=0.3)
    else:
        _nothing_yet(ax)
    ax.set_title(f"{campaign.name}: hypervolume after each round")
    return _png(fig)


def pareto_png(campaign: Campaign) -> bytes:
    """The measured experiments and the Pareto front, on the first two objectives.

    A third objective is the points' colour; one objective is drawn against the
    trial number. Experiments that break an outcome limit are drawn hollow; the
    front (over every objective) is red.

    Returns:
        The PNG file's bytes (640 x 480 pixels; 640 x 120 while nothing is measured).
    """
    trials = campaign.trials()
    done = [t for t in trials if t.state == "complete"]
    front = {int(n) for n in campaign.pareto()["trial"]} if done else set()
    fig, ax = _figure(bool(done))
    if done:
        _draw(ax, campaign, done, front)
    else:
        _nothing_yet(ax)
    objs = campaign.definition.objectives
    more = f" (colour: {objs[2].name})" if len(objs) == 3 else ""
    more = f" (first 3 of {len(objs)} objectives)" if len(objs) > 3 else more
    ax.set_title(f"{campaign.name}: {len(done)} measured{more}")
    return _png(fig)
