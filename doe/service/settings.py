"""Settings of the lab web service (``doe serve``), read from the environment.

Every field can be set as ``DOE_SERVE_<FIELD>`` (e.g. ``DOE_SERVE_PORT=8080``,
``DOE_SERVE_SECURE_COOKIE=true``); the ledger URL falls back to ``$DOE_STORAGE``
and then to ``sqlite:///doe.db``, as for the command line.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from doe.ledger import resolve_storage

__all__ = ["Settings"]


def _default_storage() -> str:
    return resolve_storage(None)


class Settings(BaseSettings):
    """What the service needs: where the ledger is, where to listen, cookie rules.

    Attributes:
        storage: Ledger URL; users, sessions and the audit log live there too.
        host: Interface to bind; 127.0.0.1 unless told otherwise.
        port: TCP port.
        cookie_name: Name of the session cookie of the web page.
        secure_cookie: Send the cookie only over HTTPS (set behind a TLS proxy).
        session_hours: How long a web sign-in lasts.
        lease_hours: Default claim length of a pull (``None``: the campaign's
            suggestion TTL).
        tracking: Mirror writes to MLflow (``None``: each campaign's own setting).
        retry_after_s: ``Retry-After`` seconds sent with 503 (ledger busy or down).
    """

    model_config = SettingsConfigDict(env_prefix="DOE_SERVE_", extra="ignore")

    storage: str = Field(default_factory=_default_storage, min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cookie_name: str = Field(default="doe_session", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    secure_cookie: bool = False
    session_hours: float = Field(default=12.0, gt=0, le=24 * 90, allow_inf_nan=False)
    lease_hours: float | None = Field(
        default=None, gt=0, le=24 * 365, allow_inf_nan=False
    )
    tracking: bool | None = None
    retry_after_s: int = Field(default=5, ge=1, le=3600)
