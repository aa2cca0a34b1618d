"""The FastAPI app of the lab web service: ``create_app(settings)`` collects the routers.

Handlers are plain ``def`` (run in the threadpool): the Campaign API is
synchronous and a suggestion may fit a GP for seconds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from doe import __version__
from doe.exceptions import StorageBusyError
from doe.ledger import mask_url
from doe.service.auth import AuthStore
from doe.service.errors import install_handlers
from doe.service.routes import campaigns, health, pages, trials, users
from doe.service.settings import Settings
from doe.service.templating import HERE

__all__ = ["create_app"]

logger = logging.getLogger("doe.service")

_DESCRIPTION = """\
Closed-loop design of experiments for the Li2S||Si cell lab: list campaigns, pull
and claim experiments, post results and failures, see the Pareto front.

Sign in with `Authorization: Bearer <token>` (`doe users add NAME --role ROLE`).
Roles: **viewer** reads; **staff** pulls, releases, records and fails; **owner**
creates campaigns, asks for batches, and everything else.

Errors are JSON `{"error": "<ClassName>", "detail": "<message>"}` (422 bodies also
name the bad `fields`): 401 no or bad token, 403 role too low, 404 unknown campaign
or trial, 409 the trial is not pending (or holds another result), 422 values
rejected, 503 ledger locked or down (with `Retry-After`; nothing was written).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The web service over the ledger named in ``settings``.

    Args:
        settings: Storage, cookie and lease settings (default: from the environment).

    Returns:
        The ASGI app (``uvicorn.run(create_app(), host="127.0.0.1")``).
    """
    settings = settings or Settings()
    store = AuthStore(settings.storage)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(store.ensure_tables)
        except StorageBusyError as exc:  # answered with 503 until the database is back
            logger.warning("users tables not checked at start: %s", exc)
        yield
        store.dispose()

    app = FastAPI(
        title="li2s-doe lab service",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    install_handlers(app)
    for module in (health, users, campaigns, trials, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    logger.info("serving the ledger at %s", mask_url(settings.storage))
    return app
