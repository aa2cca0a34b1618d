"""``/api/me``, ``/api/users`` and ``/api/audit``: who is signed in, and who wrote what."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from doe.service.deps import OwnerDep, StoreDep, ViewerDep
from doe.service.schemas import AuditPublic, ErrorPublic, UserPublic

__all__ = ["router"]

router = APIRouter(
    prefix="/api",
    tags=["users"],
    responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
)


@router.get("/me", response_model=UserPublic)
def get_me(*, user: ViewerDep) -> UserPublic:
    """The caller's name and role."""
    return UserPublic(name=user.name, role=user.role)  # type: ignore[arg-type]  # a stored role is one of ROLES


@router.get("/users", response_model=list[UserPublic])
def get_users(*, user: OwnerDep, store: StoreDep) -> list[UserPublic]:
    """The active users and their roles (owner)."""
    return [
        UserPublic(name=u.name, role=u.role)  # type: ignore[arg-type]  # as above
        for u in store.list_users()
        if u.revoked_at is None
    ]


@router.get("/audit", response_model=list[AuditPublic])
def get_audit(
    *,
    user: OwnerDep,
    store: StoreDep,
    campaign: Annotated[
        str | None, Query(max_length=64, description="Only this campaign.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> list[AuditPublic]:
    """The latest writes made through the service, newest first (owner)."""
    return [
        AuditPublic(
            id=e.id,
            time=e.time,
            user=e.user,
            action=e.action,
            campaign=e.campaign,
            trial=e.trial,
            detail=e.detail,
        )
        for e in store.audit_entries(campaign=campaign, limit=limit)
    ]
