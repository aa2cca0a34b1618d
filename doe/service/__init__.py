"""The lab web service (``doe serve``): a JSON API under ``/api/`` and a web page.

``import doe.service`` is light; FastAPI loads with :func:`create_app`. ``doe users``
only needs :mod:`doe.service.auth` (SQLAlchemy).

Example:
    >>> from doe.service import Settings, create_app  # doctest: +SKIP
    >>> app = create_app(Settings(storage="sqlite:///doe.db"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Settings", "create_app"]

_LAZY = {"create_app": "doe.service.app", "Settings": "doe.service.settings"}

if TYPE_CHECKING:
    from doe.service.app import create_app
    from doe.service.settings import Settings


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'doe.service' has no attribute {name!r}")
