"""``doe serve`` (the lab web service) and ``doe users add|list|revoke`` (its tokens).

FastAPI and uvicorn are imported inside ``serve`` only, so ``import doe.cli`` and
``doe --help`` stay light; ``doe users`` needs only SQLAlchemy.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from doe.cli._common import (
    CliUsageError,
    TableFormat,
    note,
    out_console,
    state_of,
    write_json,
)
from doe.exceptions import DoeError

if TYPE_CHECKING:
    from doe.service.auth import AuthStore

app = typer.Typer()
users_app = typer.Typer(
    name="users",
    help="Users of `doe serve` and their API tokens (viewer, staff, owner).",
    no_args_is_help=True,
)
app.add_typer(users_app)


class Role(StrEnum):
    """Roles of the web service."""

    viewer = "viewer"
    staff = "staff"
    owner = "owner"


@app.command(
    "serve",
    epilog="Example\n\n  doe users add ana --role staff\n\n  doe serve\n\n"
    "  doe --storage postgresql://lab@db/doe serve --host 0.0.0.0 --port 8080",
)
def serve(
    ctx: typer.Context,
    *,
    host: str | None = typer.Option(
        None,
        "--host",
        help="Interface to bind (default 127.0.0.1: this machine only). "
        "Put a TLS proxy in front before opening it to the network.",
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="TCP port (default 8000)."
    ),
    secure_cookie: bool | None = typer.Option(
        None,
        "--secure-cookie/--no-secure-cookie",
        help="Send the session cookie over HTTPS only (behind a TLS proxy).",
    ),
) -> None:
    """Serve the JSON API (/api, /docs) and the lab web page.

    Sign in with a token from `doe users add`. Settings may also come from
    DOE_SERVE_* variables (DOE_SERVE_PORT, DOE_SERVE_SECURE_COOKIE,
    DOE_SERVE_LEASE_HOURS, ...).
    """
    import uvicorn

    from doe.service import Settings, create_app

    state = state_of(ctx)
    overrides: dict[str, object] = {
        k: v
        for k, v in {
            "storage": state.storage,
            "host": host,
            "port": port,
            "secure_cookie": secure_cookie,
            "tracking": state.tracking,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]  # checked by pydantic
    note(f"Serving on http://{settings.host}:{settings.port}/ (Ctrl-C stops).")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
    )


def _store(ctx: typer.Context) -> AuthStore:
    """The users store of the ledger (a new SQLite file's folder is made here)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from doe.ledger import resolve_storage
    from doe.service.auth import AuthStore

    url = resolve_storage(state_of(ctx).storage)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    ):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return AuthStore(url)


@users_app.command(
    "add",
    epilog="Example\n\n  doe users add ana --role staff\n\n  doe users add lead --role owner",
)
def users_add(
    ctx: typer.Context,
    *,
    name: str = typer.Argument(..., help="User name (the operator of their writes)."),
    role: Role = typer.Option(..., "--role", help="viewer, staff or owner."),
) -> None:
    """Add a user and print their API token (shown only this once)."""
    from doe.service.auth import check_user_name

    try:
        check_user_name(name)
    except DoeError as exc:
        raise CliUsageError(str(exc)) from exc
    store = _store(ctx)
    try:
        token = store.add_user(name, role.value)
    finally:
        store.dispose()
    typer.echo(token)
    note(
        f"Added {name!r} ({role.value}). The token above is shown only now; give it "
        "to them to sign in to `doe serve` (web page or Authorization: Bearer).",
        style="green",
    )


@users_app.command(
    "list", epilog="Example\n\n  doe users list\n\n  doe users list --format json"
)
def users_list(
    ctx: typer.Context,
    *,
    format_: TableFormat = typer.Option(
        TableFormat.table, "--format", "-f", help="table or json."
    ),
) -> None:
    """List the users, their roles, and whether they are revoked."""
    from rich.table import Table

    store = _store(ctx)
    try:
        users = store.list_users()
    finally:
        store.dispose()
    if format_ is TableFormat.json:
        write_json(
            [
                {
                    "name": u.name,
                    "role": u.role,
                    "created_at": u.created_at,
                    "revoked_at": u.revoked_at,
                }
                for u in users
            ]
        )
        return
    table = Table("name", "role", "added (UTC)", "revoked (UTC)")
    for u in users:
        table.add_row(u.name, u.role, u.created_at[:19], (u.revoked_at or "")[:19])
    out_console().print(table)


@users_app.command("revoke", epilog="Example\n\n  doe users revoke ana")
def users_revoke(
    ctx: typer.Context,
    *,
    name: str = typer.Argument(..., help="The user to revoke."),
) -> None:
    """Revoke a user's token and end their web sessions."""
    store = _store(ctx)
    try:
        store.revoke_user(name)
    finally:
        store.dispose()
    note(f"Revoked {name!r}: their token and sessions no longer work.", style="green")
