"""The ``doe`` command line (typer + rich), one module per command group.

``import doe.cli`` is light: the Python API is imported inside each command, so
``doe --help`` never loads torch, optuna, mlflow or pandas.

Example:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(app, ["--version"]).output.strip()
    'doe 0.1.0'
"""

from __future__ import annotations

import typer

from doe.cli import (
    campaigns,
    demo,
    importing,
    predict,
    record,
    replay,
    serve,
    simulate,
    status,
    suggest,
    sync,
)
from doe.cli._common import DoeGroup, State

__all__ = ["app", "main"]

app = typer.Typer(
    name="doe",
    cls=DoeGroup,
    epilog="Example\n\n  doe init campaigns/li2s_si/campaign.toml\n\n"
    "  doe import campaigns/li2s_si/recorded.csv\n\n  doe suggest -n 4\n\n"
    "  doe pull --operator ana\n\n  doe record 12 specific_energy_wh_kg=251 "
    "retention_pct=70.2 safety_score=84\n\n  doe status",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from doe import __version__

        typer.echo(f"doe {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    *,
    campaign: str | None = typer.Option(
        None,
        "--campaign",
        "-c",
        envvar="DOE_CAMPAIGN",
        help="Campaign name; not needed when the storage holds one campaign.",
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        envvar="DOE_STORAGE",
        help="Ledger URL (default: sqlite:///doe.db in this directory).",
    ),
    no_tracking: bool = typer.Option(
        False, "--no-tracking", help="Do not mirror to MLflow in this command."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """Closed-loop Bayesian design of experiments for the Li2S||Si cell lab.

    Global options go before the command: doe --storage URL --campaign NAME suggest.
    """
    ctx.obj = State(
        campaign=campaign,
        storage=storage,
        tracking=False if no_tracking else None,
        debug=debug,
    )


for _group in (campaigns, importing, suggest, record, status, predict, simulate):
    app.add_typer(_group.app)
for _group in (sync, serve):
    app.add_typer(_group.app)
for _group in (replay, demo):
    app.add_typer(_group.app)


def main() -> None:
    """Run the ``doe`` command line (the console script)."""
    app(prog_name="doe")
