"""Users, API tokens, web sessions and the audit log of the lab web service.

They live in the ledger's database, in tables of our own (never Optuna's):

- ``doe_users(name, role, token_hash, created_at, revoked_at)``: one row per
  person. A token is ``doe_`` + ``secrets.token_urlsafe(32)``, shown once by
  ``doe users add``; only its SHA-256 is stored (a random 256-bit token needs no
  salt or slow hash), and the stored hash is compared with ``hmac.compare_digest``.
- ``doe_sessions(id_hash, user_name, created_at, expires_at)``: web sign-ins. The
  cookie holds a random session id; only its SHA-256 is stored, so a copy of the
  database does not sign anyone in. Revoking a user ends their sessions.
- ``doe_audit(id, time, user_name, action, campaign, trial, detail)``: every write
  through the service, with who made it.

Roles are ordered: ``viewer`` (read) < ``staff`` (pull, release, record, fail) <
``owner`` (create campaigns, suggest batches, everything).

Only SQLAlchemy Core is used here (no FastAPI), so ``doe users`` stays light.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from doe.exceptions import DoeError, StorageBusyError
from doe.ledger import mask_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "ROLES",
    "AuditEntry",
    "AuthStore",
    "User",
    "check_role",
    "check_user_name",
    "csrf_token",
]

ROLES = ("viewer", "staff", "owner")
TOKEN_PREFIX = "doe_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_SQLITE_TIMEOUT_S = 30.0

_metadata = sa.MetaData()
users_table = sa.Table(
    "doe_users",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40), nullable=True),
)
sessions_table = sa.Table(
    "doe_sessions",
    _metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
)
audit_table = sa.Table(
    "doe_audit",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.String(40), nullable=False),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("campaign", sa.String(64), nullable=True, index=True),
    sa.Column("trial", sa.Integer, nullable=True),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_user_name(name: Any) -> str:
    """A user name: 1-64 letters, digits, ``.``, ``_``, ``@`` or ``-``.

    Raises:
        DoeError: The name is not of that form.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise DoeError(
            f"User name {name!r} must be 1 to 64 letters, digits, '.', '_', '@' or "
            "'-', starting with a letter or digit, e.g. 'ana' or 'ben.k'."
        )
    return name


def check_role(role: Any) -> str:
    """A role: one of ``viewer``, ``staff``, ``owner``.

    Raises:
        DoeError: Unknown role.
    """
    if role not in ROLES:
        raise DoeError(f"Role {role!r} is unknown; choose one of: {', '.join(ROLES)}.")
    return str(role)


def csrf_token(session_id: str) -> str:
    """The form token of a web session (an HMAC of its secret id).

    Forms of the web page carry it; a page on another site cannot know it, because
    the session id sits in an HttpOnly cookie.
    """
    return hmac.new(session_id.encode(), b"doe-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class User:
    """A person who may use the service.

    Attributes:
        name: The user name (recorded as the operator of every write).
        role: ``viewer``, ``staff`` or ``owner``.
        created_at: When the user (or their current token) was added (UTC).
        revoked_at: When the user was revoked, if they were.
    """

    name: str
    role: str
    created_at: str = ""
    revoked_at: str | None = None

    def has_role(self, role: str) -> bool:
        """Whether this user's role is ``role`` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class AuditEntry:
    """One write made through the service."""

    id: int
    time: str
    user: str
    action: str
    campaign: str | None
    trial: int | None
    detail: dict[str, Any]


class AuthStore:
    """Users, sessions and the audit log in the ledger's database.

    The engine is made on first use and thrown away (``dispose``) after any
    connection error, so a database that was locked or down is used again as soon
    as it is back, without a restart.

    Args:
        url: The ledger URL (SQLite file or PostgreSQL).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._has_tables = False
        self._has_ledger = False
        self._guard = threading.Lock()

    # ------------------------------------------------------------- plumbing
    def _get_engine(self) -> Engine:
        with self._guard:
            if self._engine is None:
                kwargs: dict[str, Any] = {"pool_pre_ping": True}
                if sa.make_url(self.url).get_backend_name() == "sqlite":
                    kwargs["connect_args"] = {"timeout": _SQLITE_TIMEOUT_S}
                self._engine = sa.create_engine(self.url, **kwargs)
            return self._engine

    def dispose(self) -> None:
        """Close every pooled connection (the next use connects afresh)."""
        with self._guard:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (
            sa_exc.OperationalError,
            sa_exc.InterfaceError,
            sa_exc.TimeoutError,
        ) as exc:
            self.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StorageBusyError(
                f"The database at {mask_url(self.url)} is locked or unreachable "
                f"({type(exc).__name__}: {reason}); nothing was written. Try again in "
                "a few seconds."
            ) from exc

    @contextlib.contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction on our tables (created first if missing)."""
        self.ensure_tables()
        with self._errors(), self._get_engine().begin() as conn:
            yield conn

    def ensure_tables(self) -> None:
        """Create ``doe_users``, ``doe_sessions`` and ``doe_audit`` if missing.

        Raises:
            StorageBusyError: The database is locked or unreachable.
        """
        if self._has_tables:
            return
        with self._errors():
            engine = self._get_engine()
            try:
                _metadata.create_all(engine, checkfirst=True)
            except sa_exc.DatabaseError:
                # another process created them a moment ago; fine if they exist now
                names = set(sa.inspect(engine).get_table_names())
                if not {t.name for t in _metadata.sorted_tables} <= names:
                    raise
        self._has_tables = True

    def has_ledger(self) -> bool:
        """Whether the database holds a ledger (a campaign was ever created there).

        A database made by ``doe users add`` before ``doe init`` holds only our
        tables; listing its campaigns must give none, not an error.
        """
        if not self._has_ledger:
            with self._errors(), self._get_engine().connect() as conn:
                self._has_ledger = sa.inspect(conn).has_table("studies")
        return self._has_ledger

    # ---------------------------------------------------------------- users
    def add_user(self, name: str, role: str) -> str:
        """Add a user (or re-add a revoked one) and return their new token.

        The token is shown only here; the database keeps its hash.

        Raises:
            DoeError: Bad name or role, or an active user of that name exists.
        """
        name, role = check_user_name(name), check_role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "name": name,
            "role": role,
            "token_hash": _sha256(token),
            "created_at": _iso(_now()),
            "revoked_at": None,
        }
        with self._begin() as conn:
            old = conn.execute(
                sa.select(users_table.c.revoked_at).where(users_table.c.name == name)
            ).first()
            if old is not None and old.revoked_at is None:
                raise DoeError(
                    f"User {name!r} exists; revoke them first (`doe users revoke "
                    f"{name}`) to give them a new token or role."
                )
            if old is not None:
                conn.execute(
                    users_table.update().where(users_table.c.name == name).values(row)
                )
            else:
                conn.execute(users_table.insert().values(row))
        return token

    def list_users(self) -> list[User]:
        """Every user, active and revoked, by name."""
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(users_table).order_by(users_table.c.name)
            ).all()
        return [User(r.name, r.role, r.created_at, r.revoked_at) for r in rows]

    def revoke_user(self, name: str) -> None:
        """Revoke a user's token and end their web sessions.

        Raises:
            DoeError: No active user of that name.
        """
        with self._begin() as conn:
            done = conn.execute(
                users_table.update()
                .where(users_table.c.name == name, users_table.c.revoked_at.is_(None))
                .values(revoked_at=_iso(_now()))
            )
            if done.rowcount == 0:
                raise DoeError(
                    f"No active user {name!r}; see `doe users list` for the names."
                )
            conn.execute(
                sessions_table.delete().where(sessions_table.c.user_name == name)
            )

    def user_for_token(self, token: str) -> User | None:
        """The active user holding ``token``, or ``None``."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        digest = _sha256(token)
        with self._begin() as conn:
            row = conn.execute(
                sa.select(users_table).where(users_table.c.token_hash == digest)
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.token_hash, digest):
            return None
        return User(row.name, row.role, row.created_at, row.revoked_at)

    # ------------------------------------------------------------- sessions
    def create_session(self, user: User, *, hours: float) -> str:
        """Start a web session for ``user``; returns the secret session id."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
        with self._begin() as conn:
            conn.execute(
                sessions_table.delete().where(sessions_table.c.expires_at < _iso(now))
            )
            conn.execute(
                sessions_table.insert().values(
                    id_hash=_sha256(session_id),
                    user_name=user.name,
                    created_at=_iso(now),
                    expires_at=_iso(now + timedelta(hours=hours)),
                )
            )
        return session_id

    def user_for_session(self, session_id: str) -> User | None:
        """The active user of a live session, or ``None``."""
        if not session_id or len(session_id) > 128:
            return None
        with self._begin() as conn:
            row = conn.execute(
                sa.select(users_table, sessions_table.c.expires_at)
                .join(sessions_table, sessions_table.c.user_name == users_table.c.name)
                .where(sessions_table.c.id_hash == _sha256(session_id))
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at < _iso(_now()):
            return None
        return User(row.name, row.role, row.created_at, row.revoked_at)

    def delete_session(self, session_id: str) -> None:
        """End a web session (sign out)."""
        with self._begin() as conn:
            conn.execute(
                sessions_table.delete().where(
                    sessions_table.c.id_hash == _sha256(session_id)
                )
            )

    # ---------------------------------------------------------------- audit
    def audit(
        self,
        user: str,
        action: str,
        *,
        campaign: str | None = None,
        trial: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log."""
        with self._begin() as conn:
            conn.execute(
                audit_table.insert().values(
                    time=_iso(_now()),
                    user_name=user,
                    action=action,
                    campaign=campaign,
                    trial=trial,
                    detail=json.dumps(dict(detail or {}), default=str),
                )
            )

    def audit_entries(
        self, *, campaign: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The latest audit entries (newest first), optionally of one campaign."""
        query = sa.select(audit_table).order_by(audit_table.c.id.desc()).limit(limit)
        if campaign is not None:
            query = query.where(audit_table.c.campaign == campaign)
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [
            AuditEntry(
                r.id,
                r.time,
                r.user_name,
                r.action,
                r.campaign,
                r.trial,
                json.loads(r.detail),
            )
            for r in rows
        ]
