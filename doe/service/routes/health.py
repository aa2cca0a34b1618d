"""``/healthz``: the process answers (no sign-in, no database)."""

from __future__ import annotations

from fastapi import APIRouter

from doe import __version__

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def get_health() -> dict[str, str]:
    """The service is up; says nothing about the database."""
    return {"status": "ok", "version": __version__}
