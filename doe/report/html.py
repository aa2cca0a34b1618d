"""``doe report``: a campaign's progress as one self-contained HTML file.

For the group meeting or the lab notebook: counts, the best measured cell for
each objective, the Pareto front with units, the hypervolume after each round,
both plots (embedded PNGs), the model's quality, what is pending, what failed,
what was corrected, every experiment, and how the definition changed. No
external file, script or font: it opens anywhere and can be mailed as it is.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doe.report.data import Step, campaign_report, quiet_step
from doe.report.plots import pareto_png, progress_png
from doe.space import format_number

if TYPE_CHECKING:
    from doe.campaign import Campaign

__all__ = ["report_html"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = format_number
    env.filters["unit"] = lambda u: "" if not u or u == "-" else u
    return env


def _png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _best_per_objective(campaign: Campaign) -> list[dict[str, Any]]:
    """The best measured cell for each objective, among those meeting every limit."""
    d = campaign.definition
    front = campaign.pareto()
    rows: list[dict[str, Any]] = []
    for o in d.objectives:
        if not len(front):
            break
        rec = front.loc[(o.sign * front[o.name]).idxmax()]
        rows.append(
            {
                "objective": o.name,
                "unit": o.unit,
                "value": float(rec[o.name]),
                "trial": int(rec["trial"]),
                "others": {x.name: float(rec[x.name]) for x in d.objectives if x != o},
                "settings": {p: float(rec[p]) for p in d.space.names},
            }
        )
    return rows


def report_html(
    campaign: Campaign,
    *,
    model: bool = True,
    step: Step = quiet_step,
    now: datetime | None = None,
) -> str:
    """The campaign's report as one HTML document (plots embedded).

    Args:
        campaign: The campaign.
        model: Fit the ``gp`` model for its front and leave-one-out quality.
        step: Wraps each long step (see :func:`doe.report.campaign_report`).
        now: The report's time stamp (default: now, UTC).

    Returns:
        The HTML text (UTF-8).
    """
    data = campaign_report(campaign, model=model, step=step)
    d = campaign.definition
    trials = campaign.trials()
    with step("Drawing the plots..."):
        plots = {
            "progress": _png(progress_png(campaign)),
            "pareto": _png(pareto_png(campaign)),
        }
    hv = campaign.hypervolume()
    context = {
        "r": data,
        "d": d,
        "now": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "hypervolume": hv if math.isfinite(hv) else None,
        "params": [(p.name, p.unit) for p in d.space.parameters],
        "shown": [
            *(o.name for o in d.objectives),
            *(
                lim.name
                for lim in d.limits
                if lim.name not in {o.name for o in d.objectives}
            ),
        ],
        "unit_of": d.outcome_unit,
        "limits": {
            lim.name: f"{lim.op} {format_number(lim.value)}" for lim in d.limits
        },
        "best": _best_per_objective(campaign),
        "trials": trials,
        "failed": [t for t in trials if t.state == "failed"],
        "corrected": [t for t in trials if t.attrs.get("corrections")],
        "plots": plots,
    }
    return str(_environment().get_template("report.html").render(context))
