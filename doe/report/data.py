"""A campaign's progress as plain data: what ``doe status`` and ``doe report`` show."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from doe.ledger import STATES

if TYPE_CHECKING:
    from doe.campaign import Campaign
    from doe.ledger import TrialRecord

__all__ = ["STATES", "Step", "campaign_report", "quiet_step"]

Step = Callable[[str], AbstractContextManager[Any]]
"""Wraps a long step, given a line saying what it does (a spinner, a log line)."""


@contextlib.contextmanager
def quiet_step(message: str) -> Iterator[None]:
    """A step that shows nothing."""
    yield


def campaign_report(
    campaign: Campaign, *, model: bool, step: Step = quiet_step
) -> dict[str, Any]:
    """Everything ``doe status`` and ``doe report`` show, as plain data.

    Args:
        campaign: The campaign.
        model: Fit the ``gp`` model: its front of the measured cells and its
            leave-one-out quality (a few seconds).
        step: Wraps each long step, given a line saying what it does (the CLI
            shows a spinner).

    Returns:
        ``campaign``, ``storage``, ``counts`` (by state), ``pending``,
        ``pareto`` (measured front), ``reference_point``,
        ``hypervolume_by_round``, ``model_quality`` and ``model_quality_note``,
        ``model_pareto`` (None without ``model``), ``definition_changes``.
    """
    from doe.ledger import mask_url

    trials = campaign.trials()
    counts = dict.fromkeys(STATES, 0)
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    d = campaign.definition
    ref = campaign.reference_point()
    quality, why = _model_quality(campaign, enabled=model, step=step)
    model_front = _model_pareto_rows(campaign, step=step) if model else None
    return {
        "campaign": campaign.name,
        "storage": mask_url(campaign.storage),
        "counts": counts,
        "pending": [_pending_row(t) for t in trials if t.state == "pending"],
        "pareto": _pareto_rows(campaign),
        "reference_point": {
            o.name: o.sign * r for o, r in zip(d.objectives, ref, strict=True)
        },
        "hypervolume_by_round": campaign.hypervolume_by_round(trials),
        "model_quality": quality,
        "model_quality_note": why,
        "model_pareto": model_front,
        "definition_changes": campaign.definition_history(),
    }


def _pending_row(t: TrialRecord) -> dict[str, Any]:
    return {
        "trial": t.number,
        "round": t.attrs.get("round"),
        "asked_by": t.attrs.get("asked_by"),
        "asked_at": t.attrs.get("asked_at") or t.created_at,
        "claimed_by": t.claimed_by,
        "claim_until": t.attrs.get("claim_until") if t.claimed_by else None,
        "fixed": dict((t.attrs.get("provenance") or {}).get("fixed") or {}),
    }


def _pareto_rows(campaign: Campaign) -> list[dict[str, Any]]:
    d = campaign.definition
    front = campaign.pareto()
    rows = []
    for rec in front.to_dict("records"):
        outcomes = {
            n: float(rec[n])
            for n in d.outcome_names
            if rec.get(n) is not None and math.isfinite(float(rec[n]))
        }
        rows.append(
            {
                "trial": int(rec["trial"]),
                "source": rec.get("source"),
                "settings": {p: float(rec[p]) for p in d.space.names},
                "outcomes": outcomes,
            }
        )
    first = d.objectives[0]
    rows.sort(key=lambda r: -first.sign * r["outcomes"].get(first.name, math.nan))
    return rows


def _model_pareto_rows(campaign: Campaign, *, step: Step) -> list[dict[str, Any]]:
    """The front by the model's estimates: settings, estimate [mean, sd], measured."""
    d = campaign.definition
    with step("Estimating the measured cells' expected outcomes..."):
        front = campaign.pareto(model=True)
    rows = []
    for rec in front.to_dict("records"):
        estimate = {
            n: [float(rec[f"est_{n}"]), float(rec[f"est_{n}_std"])]
            for n in d.outcome_names
            if f"est_{n}" in rec
        }
        measured = {
            n: float(rec[n])
            for n in estimate
            if rec.get(n) is not None and math.isfinite(float(rec[n]))
        }
        rows.append(
            {
                "trial": int(rec["trial"]),
                "settings": {p: float(rec[p]) for p in d.space.names},
                "estimate": estimate,
                "outcomes": measured,
            }
        )
    first = d.objectives[0]

    def by_first(row: dict[str, Any]) -> float:
        return -first.sign * float(row["estimate"][first.name][0])

    return sorted(rows, key=by_first)


def _model_quality(
    campaign: Campaign, *, enabled: bool, step: Step
) -> tuple[dict[str, Any] | None, str]:
    if not enabled:
        return None, "skipped (--no-model)"
    with step("Cross-validating the model (leave-one-out)..."):
        quality = campaign.model_quality()
    if not quality:
        return {}, "too few measurements to cross-validate the model"
    return dict(quality), ""
