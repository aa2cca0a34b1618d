"""Typed dependencies of the routes: settings, the auth store, the user, the campaign.

``ViewerDep``, ``StaffDep`` and ``OwnerDep`` authenticate the caller and check the
role: 401 without a valid token, 403 with too few rights. The JSON API takes
``Authorization: Bearer <token>``; for safe methods (GET, HEAD) it also accepts the
web page's session cookie, so that the page can show the Pareto PNG and offer the
CSV export. Writes through the API always need the token.

``CampaignsDep`` loads the campaign anew for each request (``Campaign.load``), so
no engine or cached state outlives a database outage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from doe.campaign import Campaign
from doe.exceptions import UnknownCampaignError
from doe.ledger import mask_url
from doe.service.auth import AuthStore, User, csrf_token
from doe.service.errors import LoginRequiredError
from doe.service.settings import Settings

__all__ = [
    "CampaignLoader",
    "CampaignsDep",
    "NamePath",
    "OwnerDep",
    "PageSession",
    "PageSessionDep",
    "SettingsDep",
    "StaffDep",
    "StoreDep",
    "TrialPath",
    "ViewerDep",
    "load_campaign",
]

MAX_TRIAL = 2**31 - 1

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `doe users add NAME --role viewer|staff|owner`.",
)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> AuthStore:
    """The app's users, sessions and audit store."""
    store: AuthStore = request.app.state.store
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[AuthStore, Depends(get_store)]
TrialPath = Annotated[int, Path(ge=0, le=MAX_TRIAL, description="The trial number.")]
NamePath = Annotated[
    str, Path(min_length=1, max_length=64, description="The campaign name.")
]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def api_user(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The caller, from the Bearer token (or the session cookie for GET/HEAD).

    Raises:
        HTTPException: 401 without a token, or with an unknown or revoked one.
    """
    if credentials is not None:
        user = store.user_for_token(credentials.credentials)
        if user is None:
            raise _unauthorized("The token is unknown or revoked.")
        return user
    session_id = request.cookies.get(settings.cookie_name)
    if session_id and request.method in ("GET", "HEAD"):
        user = store.user_for_session(session_id)
        if user is not None:
            return user
    raise _unauthorized(
        "Sign in with 'Authorization: Bearer <token>'; get a token from the "
        "campaign owner (`doe users add NAME --role staff`)."
    )


def require(role: str) -> Callable[[User], User]:
    """A dependency: the caller, who must have ``role`` or above (else 403)."""

    def check(user: Annotated[User, Depends(api_user)]) -> User:
        if not user.has_role(role):
            raise HTTPException(
                403,
                f"User {user.name!r} has role {user.role!r}; this needs {role!r} "
                "or above. Ask a campaign owner for more rights.",
            )
        return user

    return check


ViewerDep = Annotated[User, Depends(require("viewer"))]
StaffDep = Annotated[User, Depends(require("staff"))]
OwnerDep = Annotated[User, Depends(require("owner"))]


def load_campaign(name: str, settings: Settings, store: AuthStore) -> Campaign:
    """Load a campaign from the ledger (fresh for each request).

    Raises:
        UnknownCampaignError: No such campaign, or no ledger yet.
        StorageBusyError: The ledger is locked or unreachable.
    """
    if not store.has_ledger():
        raise UnknownCampaignError(
            f"No campaign {name!r} in {mask_url(settings.storage)}: it holds no "
            "campaigns yet; create one with `doe init FILE`."
        )
    return Campaign.load(name, settings.storage, tracking=settings.tracking)


@dataclass(frozen=True)
class CampaignLoader:
    """Loads campaigns of the app's ledger; call it in the handler: ``campaigns(name)``.

    A handler loads its campaign only after FastAPI has checked the request (path,
    query and body), so a malformed request costs no ledger access.
    """

    settings: Settings
    store: AuthStore

    def __call__(self, name: str) -> Campaign:
        """The campaign ``name``, loaded fresh from the ledger."""
        return load_campaign(name, self.settings, self.store)


def get_campaigns(settings: SettingsDep, store: StoreDep) -> CampaignLoader:
    """The campaign loader of this request."""
    return CampaignLoader(settings, store)


CampaignsDep = Annotated[CampaignLoader, Depends(get_campaigns)]


@dataclass(frozen=True)
class PageSession:
    """The signed-in user of the web page, and their session's form token."""

    user: User
    session_id: str

    @property
    def csrf(self) -> str:
        """The token every form of the page carries."""
        return csrf_token(self.session_id)


def page_session(
    request: Request, settings: SettingsDep, store: StoreDep
) -> PageSession:
    """The web page's session (from the cookie).

    Raises:
        LoginRequiredError: Not signed in, or the session ended (redirects to /login).
    """
    session_id = request.cookies.get(settings.cookie_name)
    user = store.user_for_session(session_id) if session_id else None
    if user is None or session_id is None:
        raise LoginRequiredError
    return PageSession(user, session_id)


PageSessionDep = Annotated[PageSession, Depends(page_session)]
