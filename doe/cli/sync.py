"""``doe sync``: bring the MLflow mirror level with the ledger."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import typer

from doe.cli._common import CliUsageError, note, spinner, state_of

app = typer.Typer()


@app.command(
    "sync",
    epilog="Example\n\n  doe sync\n\n"
    "  MLFLOW_TRACKING_URI=http://mlflow.lab:5000 doe --campaign li2s-si-gpe sync",
)
def sync(ctx: typer.Context) -> None:
    """Bring MLflow level with the ledger (one run per trial and per round).

    The ledger is the truth; sync creates missing runs and updates changed ones,
    and is safe to run again.
    """
    state = state_of(ctx)
    if state.tracking is False:
        raise CliUsageError("`doe sync` mirrors to MLflow; drop --no-tracking.")
    campaign = state.load()
    with spinner("Syncing the ledger to MLflow..."):
        result = campaign.sync_tracking()
    note(
        f"Synced campaign {campaign.name!r} to MLflow: {describe(result)}.",
        style="green",
    )


def describe(result: Any) -> str:
    """A readable one-line summary of what ``sync_tracking`` returned.

    Example:
        >>> describe({"status": "ok", "created": 2, "updated": 0, "unchanged": 5})
        '2 created, 0 updated, 5 unchanged'
    """
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    elif hasattr(result, "_asdict"):
        result = result._asdict()
    if not isinstance(result, Mapping):
        return "done" if result is None else str(result)
    if result.get("status") == "off":
        return "tracking is off for this campaign; nothing was done"
    counts = [k for k in _COUNTS if k in result]
    skip = {*counts, "status", "uri", "experiment"}
    parts = [f"{result[k]} {k}" for k in counts]
    parts += [f"{k}={_brief(v)}" for k, v in result.items() if k not in skip]
    text = ", ".join(parts) or "nothing to do"
    if result.get("experiment"):
        text += f" (experiment {result['experiment']!r} at {result.get('uri') or '?'})"
    return text


_COUNTS = ("created", "updated", "unchanged", "removed")


def _brief(value: Any) -> Any:
    return len(value) if isinstance(value, list | tuple | set) else value
