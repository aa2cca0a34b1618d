"""``module:name`` paths to user code (simulators, the lab's expectation)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["import_path"]


def import_path(path: str) -> tuple[str, str, Any]:
    """Import the module of ``module:name``; return its name, ``name`` and the object.

    The object is None when the module has no such attribute; callers say what
    they expected with their own error.

    Raises:
        ImportError: The module cannot be imported.
    """
    module_name, _, name = path.partition(":")
    module = importlib.import_module(module_name)
    return module_name, name, getattr(module, name, None)
