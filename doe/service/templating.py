"""Jinja2 templates of the web page (server-rendered; no front-end build step)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.templating import Jinja2Templates

from doe.space import format_number

if TYPE_CHECKING:
    from fastapi import Request
    from starlette.responses import Response

__all__ = ["fmt_number", "render_error", "templates"]

HERE = Path(__file__).resolve().parent

templates = Jinja2Templates(directory=HERE / "templates")


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for people (see :func:`doe.space.format_number`)."""
    return format_number(value, digits)


def unit_label(unit: str | None) -> str:
    """``[unit]``, or nothing for a dimensionless quantity."""
    return f"[{unit}]" if unit and unit != "-" else ""


templates.env.filters["num"] = fmt_number
templates.env.filters["unit"] = unit_label


def render_error(
    request: Request,
    status: int,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error as an HTML page (for the web page's paths)."""
    detail = body.get("detail")
    if not isinstance(detail, str):
        detail = "; ".join(f"{k}: {v}" for k, v in (body.get("fields") or {}).items())
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "error": body.get("error"), "detail": detail, "user": None},
        status_code=status,
        headers=headers,
    )
