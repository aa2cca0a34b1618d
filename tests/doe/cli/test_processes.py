"""The real entry points (`python -m doe`, the `doe` script) in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from doe import Campaign
from tests.doe.cli import GOOD, copy_ledger, run_doe, seeded_template, snapshot


@pytest.fixture(name="template", scope="module")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(name="storage")
def fixture_storage(template: Path, tmp_path: Path) -> str:
    return copy_ledger(template, tmp_path)


def test_doe_script_and_module_entry_points(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "doe"
    if not script.exists():
        pytest.skip("the `doe` console script is not installed in this environment")
    version = subprocess.run(
        [str(script), "--version"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0 and version.stdout.strip() == "doe 0.1.0"
    helped = run_doe("pull", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Example" in helped.stdout
    usage = run_doe("fail", "3", "--kind", "lost", cwd=tmp_path)
    assert usage.returncode == 2
    assert usage.stderr.splitlines() == [
        "error: Missing option '--note'.",
        "See 'doe fail --help'.",
    ]


def test_two_operators_pull_at_once_get_distinct_trials(
    storage: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DOE_STORAGE": storage, "COLUMNS": "200"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "doe",
                "--no-tracking",
                "pull",
                "--operator",
                who,
                "--format",
                "json",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("ana", "ben")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    got = {json.loads(out)["claimed_by"]: json.loads(out)["trial"] for out, _ in outs}
    assert sorted(got.values()) == [2, 3]
    assert all(err == "" for _, err in outs)  # no spinner or message off a terminal
    c = Campaign.load(storage=storage, tracking=False)
    assert {c.trial(n).claimed_by for n in (2, 3)} == {"ana", "ben"}


def test_exit_codes_and_json_through_the_entry_point(
    storage: str, tmp_path: Path
) -> None:
    before = snapshot(storage)
    args = ("--storage", storage, "--no-tracking")
    missing = run_doe(*args, "record", "7", *GOOD, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: Campaign 'li2s-si-gpe' has no trial 7")
    values = ("specific_energy_wh_kg=250", "retention_pct=lots", "safety_score=80")
    bad = run_doe(*args, "record", "1", *values, cwd=tmp_path)
    assert bad.returncode == 2 and "got 'lots'" in bad.stderr
    assert len(bad.stderr.splitlines()) == 1 and missing.stdout == bad.stdout == ""
    assert snapshot(storage) == before
    status = run_doe(*args, "status", "--format", "json", "--no-model", cwd=tmp_path)
    assert status.returncode == 0 and status.stderr == ""
    assert json.loads(status.stdout)["counts"]["complete"] == 2
