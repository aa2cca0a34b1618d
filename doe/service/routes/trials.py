"""``/api/campaigns/{name}/trials``: list, one trial, release, result, correction, failure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from doe.service import actions
from doe.service.deps import (
    CampaignsDep,
    NamePath,
    StaffDep,
    StoreDep,
    TrialPath,
    ViewerDep,
)
from doe.service.schemas import (
    CorrectionCreate,
    ErrorPublic,
    FailureCreate,
    ResultCreate,
    TrialPublic,
    TrialState,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/api/campaigns/{name}/trials",
    tags=["trials"],
    responses={
        401: {"model": ErrorPublic},
        403: {"model": ErrorPublic},
        404: {"model": ErrorPublic},
        503: {"model": ErrorPublic, "description": "Ledger locked or down."},
    },
)

_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorPublic, "description": "The trial is not pending."},
}
_WRITE_RESPONSES: dict[int | str, dict[str, object]] = {
    **_CONFLICT,
    422: {"model": ErrorPublic, "description": "Values rejected; `fields` names them."},
}


@router.get("", response_model=list[TrialPublic])
def get_trials(
    *,
    user: ViewerDep,
    name: NamePath,
    campaigns: CampaignsDep,
    state: Annotated[TrialState | None, Query(description="Only this state.")] = None,
    claimed_by: Annotated[
        str | None, Query(max_length=64, description="Only claims of this user.")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=100000, description="Only the last N (by number).")
    ] = None,
) -> list[TrialPublic]:
    """The campaign's trials by number, optionally filtered."""
    records = [
        r
        for r in campaigns(name).trials()
        if (state is None or r.state == state)
        and (claimed_by is None or r.claimed_by == claimed_by)
    ]
    if limit is not None:
        records = records[-limit:]
    return [TrialPublic.from_record(r) for r in records]


@router.get("/{trial}", response_model=TrialPublic)
def get_trial(
    *, user: ViewerDep, name: NamePath, campaigns: CampaignsDep, trial: TrialPath
) -> TrialPublic:
    """One trial: settings, outcomes, claim, provenance."""
    return TrialPublic.from_record(campaigns(name).trial(trial))


@router.post("/{trial}/release", response_model=TrialPublic, responses=_CONFLICT)
def post_release(
    *,
    user: StaffDep,
    name: NamePath,
    campaigns: CampaignsDep,
    store: StoreDep,
    trial: TrialPath,
) -> TrialPublic:
    """Release a claim (staff: their own; owner: anyone's)."""
    record = actions.release(store, campaigns(name), trial, user=user)
    return TrialPublic.from_record(record)


@router.post(
    "/{trial}/result",
    response_model=TrialPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": TrialPublic,
            "description": "The same result was stored before.",
        },
        **_WRITE_RESPONSES,
    },
)
def post_result(
    *,
    body: ResultCreate,
    user: StaffDep,
    name: NamePath,
    campaigns: CampaignsDep,
    store: StoreDep,
    trial: TrialPath,
    response: Response,
) -> TrialPublic:
    """Record the measured outcomes of a pending experiment (idempotent).

    201: recorded now. 200: the same result was already stored (nothing written).
    409: the trial is finished with another result, failed, or claimed by someone
    else.
    """
    written = actions.record_result(
        store,
        campaigns(name),
        trial,
        body.outcomes,
        user=user,
        note=body.note,
        series=body.series,
    )
    if not written.is_new:
        response.status_code = status.HTTP_200_OK
    return TrialPublic.from_record(written.record)


@router.post(
    "/{trial}/correction",
    response_model=TrialPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": TrialPublic,
            "description": "The trial already holds these values (nothing written).",
        },
        **_WRITE_RESPONSES,
    },
)
def post_correction(
    *,
    body: CorrectionCreate,
    user: StaffDep,
    name: NamePath,
    campaigns: CampaignsDep,
    store: StoreDep,
    trial: TrialPath,
    response: Response,
) -> TrialPublic:
    """Correct a recorded result (a typo found later); the old values are kept.

    Staff correct results they recorded, owners anyone's. The outcomes given
    replace those recorded, the others stay; ``corrections`` lists every
    correction with the values it replaced. 201: corrected. 200: the trial
    already holds these values. 409: the trial is not complete, or recorded by
    someone else.
    """
    written = actions.correct_result(
        store, campaigns(name), trial, body.outcomes, body.note, user=user
    )
    if not written.is_new:
        response.status_code = status.HTTP_200_OK
    return TrialPublic.from_record(written.record)


@router.post(
    "/{trial}/failure",
    response_model=TrialPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": TrialPublic,
            "description": "The same failure was stored before.",
        },
        **_WRITE_RESPONSES,
    },
)
def post_failure(
    *,
    body: FailureCreate,
    user: StaffDep,
    name: NamePath,
    campaigns: CampaignsDep,
    store: StoreDep,
    trial: TrialPath,
    response: Response,
) -> TrialPublic:
    """Mark a pending experiment failed, with a kind and a note (idempotent)."""
    written = actions.fail_trial(
        store, campaigns(name), trial, body.kind, body.note, user=user
    )
    if not written.is_new:
        response.status_code = status.HTTP_200_OK
    return TrialPublic.from_record(written.record)
