"""Import hygiene: `import doe` stays light, and mlflow/ never shadows mlflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _loaded_after(stmt: str) -> set[str]:
    code = f"import sys; {stmt}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {m.split(".")[0] for m in out.split()}


def test_import_doe_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import doe, doe.definition, doe.space, doe.objectives")
    assert not loaded & {"torch", "botorch", "gpytorch", "optuna", "mlflow", "pandas"}


def test_campaign_module_loads_no_torch_or_mlflow() -> None:
    loaded = _loaded_after("import doe.campaign")
    assert not loaded & {"torch", "botorch", "mlflow"}


def test_mlflow_folder_does_not_shadow_the_package() -> None:
    import mlflow

    assert not (ROOT / "mlflow" / "__init__.py").exists()
    assert mlflow.__file__ is not None
    assert not Path(mlflow.__file__).resolve().is_relative_to(ROOT / "mlflow")
