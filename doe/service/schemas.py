"""Request (``XCreate``) and response (``XPublic``) bodies of the JSON API.

Pydantic lives only at this boundary; the domain values (definitions, trial
records) stay frozen dataclasses and are turned into these models here. Request
bodies check types and sizes; the values themselves (outcome names, finiteness,
failure kinds, strategies) are checked by the Campaign, with the same messages as
the Python API and the command line.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from doe.ledger import TrialRecord

__all__ = [
    "AuditPublic",
    "CampaignCreate",
    "CampaignPublic",
    "CampaignSummary",
    "DefinitionChangePublic",
    "DefinitionUpdate",
    "DefinitionUpdatePublic",
    "ErrorPublic",
    "FailureCreate",
    "PredictionPublic",
    "PullCreate",
    "ResultCreate",
    "SuggestionsCreate",
    "TrialPublic",
    "TrialState",
    "UserPublic",
]

TrialState = Literal["pending", "complete", "failed", "abandoned"]
Role = Literal["viewer", "staff", "owner"]


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorPublic(BaseModel):
    """Every error: the error class and a message naming the field and the fix."""

    error: str = Field(examples=["InvalidMeasurementError"])
    detail: Any = Field(
        examples=["Outcome 'retention_pct' [%] must be a finite number; got nan."]
    )
    fields: dict[str, str] | None = Field(
        default=None,
        description="Per-field messages where the error is about named fields, "
        "e.g. {'outcomes.retention_pct': '...'}.",
    )


class UserPublic(BaseModel):
    """Who is signed in."""

    name: str
    role: Role


class CampaignSummary(BaseModel):
    """A campaign and its progress."""

    name: str
    description: str
    strategy: str
    counts: dict[str, int] = Field(description="Trials by state.")
    hypervolume: float | None = Field(
        description="Of the measured experiments that meet every limit."
    )


class CampaignPublic(CampaignSummary):
    """A campaign's definition (the dict form of its TOML file) and progress."""

    definition: dict[str, Any]
    parameter_units: dict[str, str]
    outcome_units: dict[str, str] = Field(
        description="Objectives first, then the declared extra outcomes."
    )
    objectives: list[str]
    failure_kinds: list[str]


class CampaignCreate(_Request):
    """A new campaign from the dict form of a campaign TOML file."""

    definition: dict[str, Any] = Field(
        description="As in campaign.toml: name, parameters, objectives, limits, ..."
    )


class DefinitionUpdate(_Request):
    """A changed campaign file for a running campaign (its data stay)."""

    definition: dict[str, Any] = Field(
        description="The whole changed definition, as in campaign.toml."
    )
    note: Annotated[Text, Field(max_length=2000)] | None = Field(
        default=None, description="Why it changes (kept with the campaign)."
    )
    dry_run: bool = Field(
        default=False, description="Check and list the changes; write nothing."
    )


class DefinitionChangePublic(BaseModel):
    """One changed field of a definition."""

    field: str = Field(examples=["parameters.nitridation_temp_c.high"])
    old: Any = Field(description="Before (null: absent).")
    new: Any = Field(description="After (null: removed).")


class DefinitionUpdatePublic(BaseModel):
    """What an update of the definition changed."""

    written: bool = Field(description="False on a dry run, or when nothing changed.")
    from_hash: str
    to_hash: str
    changes: list[DefinitionChangePublic]
    campaign: CampaignPublic = Field(description="The campaign after the update.")


class SuggestionsCreate(_Request):
    """Ask for a batch of new experiments."""

    n: int = Field(default=1, ge=1, le=64, description="Batch size.")
    strategy: Name | None = Field(
        default=None, description="Override the campaign's strategy for this batch."
    )
    claim: bool = Field(default=False, description="Claim them for the caller.")
    lease_hours: float | None = Field(
        default=None, gt=0, le=24 * 365, allow_inf_nan=False
    )
    fixed: dict[Name, float] = Field(
        default_factory=dict,
        max_length=64,
        description="Knobs held at given values, in the definition's units (e.g. "
        "the synthesis batch on the shelf); the strategy chooses the others.",
        examples=[{"co_precursor_g": 0.4, "nitridation_temp_c": 450.0}],
    )
    shared: list[Name] = Field(
        default_factory=list,
        max_length=64,
        description="Knobs the whole batch shares (one synthesis for several "
        "cells): the first experiment is chosen as usual, the others for its "
        "values of them.",
        examples=[["co_precursor_g", "nitridation_temp_c"]],
    )


class PredictionsCreate(_Request):
    """Settings to ask the model about (a what-if; nothing is written)."""

    settings: list[dict[str, float]] = Field(
        min_length=1,
        max_length=1000,
        description="One object per setting with every knob, in the campaign's units.",
    )


class PullCreate(_Request):
    """Options of a pull (all optional)."""

    lease_hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 365,
        allow_inf_nan=False,
        description="Claim length (default: the server's, else the campaign's TTL).",
    )
    fixed: dict[Name, float] = Field(
        default_factory=dict,
        max_length=64,
        description="Knobs held at given values, in the definition's units (e.g. "
        "the synthesis batch on the shelf); the oldest unclaimed "
        "experiment holding them, else a new one around them.",
        examples=[{"co_precursor_g": 0.4, "nitridation_temp_c": 450.0}],
    )


class ResultCreate(_Request):
    """The measured outcomes of a pending experiment."""

    outcomes: dict[Name, float] = Field(
        max_length=256,
        description="Outcome name -> value in the unit of the definition; every "
        "objective is required.",
        examples=[{"specific_energy_wh_kg": 251.0, "retention_pct": 70.2}],
    )
    note: Annotated[Text, Field(max_length=2000)] | None = None
    series: dict[Name, Annotated[list[float], Field(max_length=10000)]] | None = Field(
        default=None,
        max_length=16,
        description="Per-cycle data, e.g. {'capacity_mah_g': [...]}.",
    )


class CorrectionCreate(_Request):
    """A corrected result of a recorded experiment (a typo found later)."""

    outcomes: dict[Name, float] = Field(
        min_length=1,
        max_length=256,
        description="The corrected outcomes; the others stay as recorded.",
        examples=[{"retention_pct": 70.2}],
    )
    note: Annotated[Text, Field(min_length=1, max_length=2000)] = Field(
        description="Why it is corrected (kept with the correction)."
    )


class CorrectionPublic(BaseModel):
    """One correction of a recorded result."""

    at: str | None
    by: str | None
    note: str | None
    outcomes: dict[str, float] = Field(description="The outcomes after it.")
    previous: dict[str, float] = Field(description="The outcomes it replaced.")


class FailureCreate(_Request):
    """A failed experiment: what kind of failure, and what happened."""

    kind: Name = Field(
        description="build_failed, short_circuit, safety_test_failed or lost."
    )
    note: Annotated[Text, Field(max_length=2000)] = ""


class PredictionPublic(BaseModel):
    """The model's prediction for a suggested experiment."""

    mean: float | None
    std: float | None


class TrialPublic(BaseModel):
    """One experiment of the ledger."""

    trial: int
    state: TrialState
    params: dict[str, float]
    outcomes: dict[str, float]
    claimed_by: str | None = Field(description="Holder of a live claim.")
    claim_until: str | None
    failure_kind: str | None
    failure_note: str | None
    note: str | None
    source: str | None
    round: int | None
    strategy: str | None
    reason: str | None
    acq_value: float | None
    predicted: dict[str, PredictionPublic]
    fixed: dict[str, float] = Field(
        default_factory=dict,
        description="Knobs the asker held at given values (empty: the strategy "
        "chose every knob).",
    )
    shared: list[str] = Field(
        default_factory=list, description="Knobs its batch shares (one material)."
    )
    asked_by: str | None
    recorded_by: str | None
    created_at: str | None
    finished_at: str | None
    corrections: list[CorrectionPublic] = Field(
        default_factory=list,
        description="Corrections of the recorded result, oldest first.",
    )

    @classmethod
    def from_record(cls, rec: TrialRecord) -> TrialPublic:
        """The public view of a ledger record."""
        attrs = rec.attrs
        prov = attrs.get("provenance") or {}
        predicted = {
            str(k): PredictionPublic(
                mean=_finite_or_none(v[0]), std=_finite_or_none(v[1])
            )
            for k, v in (prov.get("predicted") or {}).items()
        }
        claimed_by = rec.claimed_by
        round_ = attrs.get("round")
        return cls(
            trial=rec.number,
            state=rec.state,  # type: ignore[arg-type]  # TrialRecord.state is one of the four
            params=rec.params,
            outcomes={k: v for k, v in rec.outcomes.items() if math.isfinite(v)},
            claimed_by=claimed_by,
            claim_until=attrs.get("claim_until") if claimed_by else None,
            failure_kind=rec.failure_kind,
            failure_note=attrs.get("failure_note"),
            note=attrs.get("note"),
            source=attrs.get("source"),
            round=int(round_) if isinstance(round_, int | float) else None,
            strategy=prov.get("strategy"),
            reason=prov.get("reason"),
            acq_value=_finite_or_none(prov.get("acq_value")),
            predicted=predicted,
            fixed=dict(prov.get("fixed") or {}),
            shared=list(prov.get("shared") or []),
            asked_by=attrs.get("asked_by"),
            recorded_by=attrs.get("recorded_by"),
            created_at=rec.created_at,
            finished_at=rec.finished_at,
            corrections=[
                CorrectionPublic(
                    at=c.get("at"),
                    by=c.get("by"),
                    note=c.get("note"),
                    outcomes=c.get("outcomes") or {},
                    previous=c.get("previous") or {},
                )
                for c in attrs.get("corrections") or []
            ],
        )


class AuditPublic(BaseModel):
    """One write made through the service."""

    id: int
    time: str
    user: str
    action: str
    campaign: str | None
    trial: int | None
    detail: dict[str, Any]
