"""Tests of the `doe` command line; helpers shared by the test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from doe.cli import app
from tests.conftest import CELL_TOML, ROOT

RECORDED_CSV = ROOT / "campaigns" / "li2s_si" / "recorded.csv"
OBJECTIVES = ("specific_energy_wh_kg", "retention_pct", "safety_score")
GOOD = ("specific_energy_wh_kg=251", "retention_pct=70.2", "safety_score=84")


def sobol_toml(folder: Path, *, name: str | None = None) -> Path:
    """A copy of the Li2S||Si definition with the fast `sobol` strategy."""
    text = CELL_TOML.read_text(encoding="utf-8").replace(
        'strategy = "gp"', 'strategy = "sobol"'
    )
    if name is not None:
        text = text.replace('name = "li2s-si-gpe"', f'name = "{name}"')
    path = folder / f"{name or 'campaign'}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(storage: str, *args: str, env: dict[str, str | None] | None = None) -> Any:
    """Run `doe --storage STORAGE --no-tracking ARGS` in-process."""
    return CliRunner().invoke(
        app,
        ["--storage", storage, "--no-tracking", *args],
        env={"DOE_CAMPAIGN": None, **(env or {})},
    )


def ok(storage: str, *args: str) -> Any:
    """`invoke`, asserting exit 0 (shows stderr when not)."""
    result = invoke(storage, *args)
    assert result.exit_code == 0, (result.exit_code, result.stderr, result.exception)
    return result


def snapshot(storage: str, campaign: str | None = None) -> list[tuple[Any, ...]]:
    """Every trial of a campaign as plain data, to check that nothing changed."""
    from doe import Campaign

    c = Campaign.load(campaign, storage, tracking=False)
    return [
        (t.number, t.state, t.params, t.outcomes, t.attrs, t.finished_at)
        for t in c.trials()
    ]


def run_doe(
    *args: str, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess: `python -m doe ARGS`."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("DOE_STORAGE", None)
    env.pop("DOE_CAMPAIGN", None)
    return subprocess.run(
        [sys.executable, "-m", "doe", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def seeded_template(folder: Path) -> Path:
    """A ledger file with the sobol campaign and the two recorded cells, made once."""
    url = f"sqlite:///{folder}/doe.db"
    ok(url, "init", str(sobol_toml(folder)))
    ok(url, "import", str(RECORDED_CSV))
    return folder / "doe.db"


def copy_ledger(template: Path, folder: Path) -> str:
    """A private copy of a template ledger; returns its URL."""
    shutil.copy(template, folder / "doe.db")
    return f"sqlite:///{folder}/doe.db"
