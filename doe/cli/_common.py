"""Shared pieces of the ``doe`` command line: state, consoles, errors, formatting.

Nothing heavy is imported here: the Python API (``doe.campaign`` and below) is
imported inside the functions that need it, so ``doe --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import math
import os
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup
from typing_extensions import override

from doe.exceptions import (
    AmbiguousCampaignError,
    CampaignExistsError,
    DefinitionError,
    DoeError,
    InvalidMeasurementError,
    InvalidSettingsError,
    StorageError,
    TrackingError,
    TrackingWarning,
    TrialStateError,
    UnknownCampaignError,
    UnknownStrategyError,
    UnknownTrialError,
)

if TYPE_CHECKING:
    from rich.table import Table
    from typer._click.core import Context as ClickContext  # typer vendors click

    from doe.campaign import Campaign
    from doe.definition import CampaignDefinition

__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "CliUsageError",
    "DoeGroup",
    "OutFormat",
    "State",
    "TableFormat",
    "err_console",
    "exit_code_for",
    "fmt_value",
    "jsonable",
    "note",
    "out_console",
    "parse_assignments",
    "resolve_operator",
    "spinner",
    "state_of",
    "with_unit",
    "write_json",
]

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliUsageError(DoeError, ValueError):
    """A command-line argument is malformed (exit 2)."""


# The one place where errors become exit codes: 2 = usage error, 1 = failed operation.
# Order matters (first match wins); a bare DoeError counts as a failed operation.
_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (CliUsageError, EXIT_USAGE),
    (DefinitionError, EXIT_USAGE),
    (InvalidSettingsError, EXIT_USAGE),
    (InvalidMeasurementError, EXIT_USAGE),
    (UnknownStrategyError, EXIT_USAGE),
    (UnknownCampaignError, EXIT_FAILED),
    (AmbiguousCampaignError, EXIT_FAILED),
    (CampaignExistsError, EXIT_FAILED),
    (UnknownTrialError, EXIT_FAILED),
    (TrialStateError, EXIT_FAILED),
    (StorageError, EXIT_FAILED),
    (TrackingError, EXIT_FAILED),
    (DoeError, EXIT_FAILED),
)


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for an error raised by a command."""
    for cls, code in _EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_FAILED


class TableFormat(StrEnum):
    """Output formats of reports: a rich table or JSON."""

    table = "table"
    json = "json"


class OutFormat(StrEnum):
    """Output formats of suggestion lists."""

    table = "table"
    csv = "csv"
    json = "json"


@dataclass
class State:
    """Global options, kept on the root context for every command.

    Attributes:
        campaign: Campaign name (``None``: the only one in the storage).
        storage: Ledger URL (``None``: ``$DOE_STORAGE`` or ``sqlite:///doe.db``).
        tracking: ``False`` with ``--no-tracking``; ``None`` keeps the definition's.
        debug: Show tracebacks.
    """

    campaign: str | None = None
    storage: str | None = None
    tracking: bool | None = None
    debug: bool = False

    def load(self) -> Campaign:
        """Load the selected campaign from the storage."""
        from doe.campaign import Campaign

        return Campaign.load(self.campaign, self.storage, tracking=self.tracking)


def state_of(ctx: ClickContext) -> State:
    """The global options of this invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


# ------------------------------------------------------------------- consoles
def _console(*, stderr: bool) -> Console:
    probe = Console(stderr=stderr)
    width = None
    if not probe.is_terminal:
        # piped or captured output: wide enough that tables do not wrap
        width = int(os.environ.get("COLUMNS", "200"))
    return Console(
        stderr=stderr, width=width, markup=False, highlight=False, soft_wrap=False
    )


def out_console() -> Console:
    """A console on stdout (tables); strings are never parsed as rich markup."""
    return _console(stderr=False)


def err_console() -> Console:
    """A console on stderr (messages, spinners)."""
    return _console(stderr=True)


def add_trial_columns(
    table: Table, definition: CampaignDefinition, outcomes: Sequence[str]
) -> None:
    """The columns of a table of trials: trial, every knob, these outcomes; units."""
    table.add_column("trial", justify="right")
    for p in definition.space.parameters:
        table.add_column(p.label, justify="right", overflow="fold")
    for name in outcomes:
        unit = definition.outcome_unit(name)
        table.add_column(f"{name} [{unit}]", justify="right", overflow="fold")


def note(message: str, style: str = "") -> None:
    """A message for people, on stderr (the terminal wraps it, not rich)."""
    err_console().print(Text(message, style=style), soft_wrap=True)


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """A rich spinner on stderr while a long step runs; silent when not a terminal."""
    console = err_console()
    if not console.is_terminal:
        yield
        return
    with console.status(Text(message), spinner="dots"):
        yield


# --------------------------------------------------------------------- errors
def report_error(exc: BaseException, *, debug: bool) -> int:
    """Print an error on stderr (one or two lines, red) and return its exit code."""
    console = err_console()
    code = exit_code_for(exc)
    if debug:
        console.print(
            Text("".join(traceback.format_exception(exc)).rstrip(), style="dim")
        )
    if isinstance(exc, DoeError):
        message = f"error: {exc}"
    else:
        message = f"internal error: {type(exc).__name__}: {exc}"
    # one line per message; a terminal wraps it, so copy-paste keeps it whole
    console.print(Text(message, style="bold red"), soft_wrap=True)
    if not isinstance(exc, DoeError) and not debug:
        console.print(Text("Rerun with --debug for the traceback.", style="red"))
    return code


class DoeGroup(TyperGroup):
    """The root command group: turns every error of a command into an exit code.

    Usage errors found by typer itself (a missing option, a bad choice) are shown
    in the same compact form as ours instead of typer's boxed panel.
    """

    @override
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit with 0, 1 or 2."""
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or not argv:  # `doe` alone: typer shows the help
            return super().main(
                argv,
                prog_name,
                complete_var,
                standalone_mode,
                windows_expand_args,
                **extra,
            )
        try:
            rv = super().main(
                argv, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except typer.TyperException as exc:
            sys.exit(_report_usage(exc))
        except typer.Abort:
            err_console().print(Text("Aborted.", style="red"))
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else 0)

    @override
    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; report errors in one place (see ``_EXIT_CODES``)."""
        with _library_noise(debug=bool(ctx.params.get("debug"))):
            try:
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort, typer.TyperException):
                raise
            except BrokenPipeError:
                # the reader went away (`doe ... | head`): click exits 1, quietly
                raise
            except Exception as exc:
                code = report_error(exc, debug=state_of(ctx).debug)
                raise typer.Exit(code) from exc


@contextlib.contextmanager
def _library_noise(*, debug: bool) -> Iterator[None]:
    """Keep library chatter off the terminal while a command runs.

    Without --debug, INFO log lines (Optuna's "A new study created ...") are
    muted, our own warnings (e.g. TrackingWarning: MLflow is behind) become one
    yellow ``warning:`` line, and third-party warnings are hidden. Everything is
    restored afterwards, so an in-process caller (tests) keeps its settings;
    warning filters are not touched, so ``filterwarnings = error`` still applies.
    """
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        if not debug:
            logging.disable(logging.INFO)
            warnings.showwarning = _show_warning
        try:
            yield
        finally:
            logging.disable(previous)


def _show_warning(
    message: Warning | str, category: type[Warning], *where: Any, **kwargs: Any
) -> None:
    """``warnings.showwarning`` for the command line: our warnings, in one line."""
    if issubclass(category, TrackingWarning):
        err_console().print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


def _report_usage(exc: typer.TyperException) -> int:
    """Show a usage error found by typer in one or two lines; return its exit code."""
    console = err_console()
    console.print(
        Text(f"error: {exc.format_message()}", style="bold red"), soft_wrap=True
    )
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        console.print(Text(f"See '{ctx.command_path} --help'."), soft_wrap=True)
    return int(getattr(exc, "exit_code", EXIT_USAGE))


# ------------------------------------------------------------------ arguments
def parse_assignments(
    items: Sequence[str], *, what: str, example: str
) -> dict[str, str]:
    """Parse ``name=value`` words into a dict (values stay strings).

    Args:
        items: Words from the command line.
        what: What the names are, for messages (``"outcome"``, ``"knob"``).
        example: A correct word, shown in the message.

    Returns:
        ``{name: value}`` in the order given.

    Raises:
        CliUsageError: A word without ``=``, an empty name or value, or a name
            given twice.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise CliUsageError(
                f"Expected {what} values as name=value; got {item!r}. "
                f"Example: {example}."
            )
        if name in out:
            raise CliUsageError(f"The {what} {name!r} is given twice; give each once.")
        out[name] = value
    return out


def resolve_operator(operator: str | None) -> str:
    """The operator's name: the option, else the OS user.

    Raises:
        CliUsageError: The name is blank or longer than 64 characters.
    """
    if operator is None:
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):
            operator = "unknown"
    if not operator.strip() or len(operator) > 64:
        raise CliUsageError(
            f"--operator must be a name of 1 to 64 characters; got {operator!r}."
        )
    return operator.strip()


STATES = ("pending", "complete", "failed", "abandoned")


# ----------------------------------------------------------------- formatting
def fmt_value(value: Any, digits: int = 4) -> str:
    """A number for people (see :func:`doe.space.format_number`)."""
    from doe.space import format_number

    return format_number(value, digits)


def with_unit(text: str, unit: str) -> str:
    """``"251 Wh/kg"``; no unit for ``-``; a scale such as ``0-100`` in brackets."""
    if not unit or unit == "-":
        return text
    if any(c.isalpha() or c == "%" for c in unit):
        return f"{text} {unit}"
    return f"{text} ({unit})"


def fmt_mean_std(mean: float, std: float, unit: str = "") -> str:
    """``mean ± std unit`` with sensible rounding."""
    return with_unit(f"{fmt_value(mean)} ± {fmt_value(std, 2)}", unit)


def jsonable(obj: Any) -> Any:
    """Make ``obj`` strict JSON: NaN/inf become ``None``, numpy scalars plain."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return str(obj)


def write_json(obj: Any) -> None:
    """Machine-readable output: JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")
