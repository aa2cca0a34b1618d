"""Fixtures of the replay tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doe.replay import write_toy_toml


@pytest.fixture(name="toy_file")
def fixture_toy_file(tmp_path: Path) -> Path:
    """The toy campaign's definition, written in the test's folder."""
    return write_toy_toml(tmp_path)
