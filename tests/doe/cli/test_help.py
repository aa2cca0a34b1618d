"""Help texts, the version, and a light `import doe.cli`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from doe.cli import app
from tests.conftest import ROOT

COMMANDS = [
    "init",
    "update",
    "campaigns",
    "import",
    "suggest",
    "pull",
    "release",
    "record",
    "correct",
    "fail",
    "abandon",
    "status",
    "report",
    "export",
    "predict",
    "simulate",
    "sync",
    "replay",
    "demo",
]


def test_every_command_is_listed_in_the_main_help() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f" {name} " in result.stdout
    for option in ("--campaign", "--storage", "--no-tracking", "--debug", "--version"):
        assert option in result.stdout
    assert "DOE_CAMPAIGN" in result.stdout and "DOE_STORAGE" in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_shows_an_example(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    assert f"doe {name}" in result.stdout or name == "sync"


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == "doe 0.1.0"


def test_import_doe_cli_loads_nothing_heavy() -> None:
    code = (
        "import sys, doe.cli; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = {"torch", "botorch", "optuna", "mlflow", "pandas", "sqlalchemy", "numpy"}
    assert not heavy & set(out)


@pytest.mark.parametrize("name", COMMANDS)
def test_bracketed_words_in_option_help_are_shown(name: str) -> None:
    """Rich reads ``[gp]`` as a style tag and drops it unless escaped (``\\[gp]``)."""
    command = get_command(app).commands[name]  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    shown = " ".join(result.stdout.split())
    texts = [
        command.help or "",
        *(getattr(p, "help", "") or "" for p in command.params),
    ]
    for text in texts:
        for bracketed in re.findall(r"\\?\[[^\]\s]*\]", text):
            assert bracketed.lstrip("\\") in shown, bracketed
