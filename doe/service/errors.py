"""The service's one mapping from errors to HTTP answers.

Every :class:`~doe.exceptions.DoeError` becomes a 4xx (503 for the storage) with
the body ``{"error": "<ClassName>", "detail": "<message>"}``. Value errors of the
Campaign (bad outcomes, settings, definitions, strategies) are 422, like schema
errors, because the request was well-formed but its values are not acceptable;
``fields`` then names each bad field. 5xx bodies never carry a traceback.

| error | status |
|---|---|
| request schema (pydantic) | 422 |
| InvalidMeasurementError, InvalidSettingsError, DefinitionError, UnknownStrategyError | 422 |
| AmbiguousCampaignError, other DoeError | 400 |
| missing / bad token | 401 |
| role too low | 403 |
| UnknownCampaignError, UnknownTrialError | 404 |
| TrialStateError, CampaignExistsError, NotEnoughDataError | 409 |
| StorageBusyError (locked or unreachable), StorageError | 503 (+ Retry-After) |
| anything else | 500, ``{"error": "InternalServerError"}`` only |

Paths outside ``/api/`` (the web page) get the same status with an HTML page.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from doe.exceptions import (
    AmbiguousCampaignError,
    CampaignExistsError,
    DefinitionError,
    DoeError,
    IncompatibleDefinitionError,
    InvalidMeasurementError,
    InvalidSettingsError,
    NotEnoughDataError,
    StorageBusyError,
    StorageError,
    TrialStateError,
    UnknownCampaignError,
    UnknownStrategyError,
    UnknownTrialError,
)
from doe.service.actions import FieldErrors
from doe.service.templating import render_error

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

__all__ = ["LoginRequiredError", "install_handlers", "status_for"]

logger = logging.getLogger("doe.service")

# First match wins; a bare DoeError is a bad request.
_STATUS: tuple[tuple[type[DoeError], int], ...] = (
    (StorageBusyError, 503),
    (StorageError, 503),
    (UnknownCampaignError, 404),
    (UnknownTrialError, 404),
    (TrialStateError, 409),
    (CampaignExistsError, 409),
    (NotEnoughDataError, 409),
    (IncompatibleDefinitionError, 409),
    (AmbiguousCampaignError, 400),
    (InvalidMeasurementError, 422),
    (InvalidSettingsError, 422),
    (DefinitionError, 422),
    (UnknownStrategyError, 422),
    (DoeError, 400),
)


class LoginRequiredError(Exception):
    """A page needs a signed-in user; the answer is a redirect to /login."""


def status_for(exc: DoeError) -> int:
    """The HTTP status of a DoeError."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def _error_name(status: int) -> str:
    return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")


def _is_page(request: Request) -> bool:
    return not (request.url.path.startswith("/api/") or request.url.path == "/api")


def _answer(
    request: Request,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    if _is_page(request):
        return render_error(request, status, body, headers=headers)
    return JSONResponse(
        _strict_json(jsonable_encoder(body)), status_code=status, headers=headers
    )


def _strict_json(obj: Any) -> Any:
    """NaN and infinities (echoed bad input) become strings, so the body is JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict_json(v) for v in obj]
    return obj


def _retry_after(request: Request, status: int) -> dict[str, str] | None:
    if status != 503:
        return None
    return {"Retry-After": str(request.app.state.settings.retry_after_s)}


async def _on_doe_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DoeError)
    status = status_for(exc)
    body = {"error": type(exc).__name__, "detail": str(exc)}
    return _answer(request, status, body, _retry_after(request, status))


async def _on_field_errors(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FieldErrors)
    body = {"error": exc.error, "detail": exc.detail, "fields": exc.fields}
    return _answer(request, 422, body)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body = {"error": _error_name(exc.status_code), "detail": exc.detail}
    return _answer(request, exc.status_code, body, dict(exc.headers or {}) or None)


def _field_of(error: dict[str, Any]) -> str:
    """``outcomes.yield_pct`` from pydantic's ``loc`` (``body`` for bad JSON)."""
    loc = list(error.get("loc", ()))
    if error.get("type") == "json_invalid" or len(loc) < 2:
        return "body" if not loc or loc[0] == "body" else str(loc[0])
    return ".".join(str(p) for p in loc[1:])


async def _on_schema_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    fields = {_field_of(e): str(e.get("msg")) for e in errors}
    body = {"error": "RequestValidationError", "detail": errors, "fields": fields}
    return _answer(request, 422, body)


async def _on_login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def _on_internal_error(request: Request, exc: Exception) -> Response:
    logger.error(
        "internal error on %s %s", request.method, request.url.path, exc_info=exc
    )
    body = {
        "error": "InternalServerError",
        "detail": "An internal error occurred; nothing about it is shown here. "
        "The server log has the details.",
    }
    return _answer(request, 500, body)


def install_handlers(app: FastAPI) -> None:
    """Register the error handlers on the app."""
    app.add_exception_handler(DoeError, _on_doe_error)
    app.add_exception_handler(FieldErrors, _on_field_errors)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_schema_error)
    app.add_exception_handler(LoginRequiredError, _on_login_required)
    app.add_exception_handler(Exception, _on_internal_error)
