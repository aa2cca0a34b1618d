"""li2s-doe: closed-loop Bayesian design of experiments for a Li2S||Si cell lab.

``import doe`` is light: it loads neither torch, optuna nor mlflow. The public names
below are imported on first use.

Example:
    >>> import doe
    >>> doe.__version__
    '0.1.0'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Campaign": "doe.campaign",
    "Suggestion": "doe.campaign",
    "list_campaigns": "doe.campaign",
    "CampaignDefinition": "doe.definition",
    "Parameter": "doe.space",
    "SearchSpace": "doe.space",
    "Objective": "doe.objectives",
    "OutcomeLimit": "doe.objectives",
    "hypervolume": "doe.objectives",
    "TrialRecord": "doe.ledger",
}

__all__ = [
    "Campaign",
    "CampaignDefinition",
    "Objective",
    "OutcomeLimit",
    "Parameter",
    "SearchSpace",
    "Suggestion",
    "TrialRecord",
    "__version__",
    "hypervolume",
    "list_campaigns",
]

if TYPE_CHECKING:
    from doe.campaign import Campaign, Suggestion, list_campaigns
    from doe.definition import CampaignDefinition
    from doe.ledger import TrialRecord
    from doe.objectives import Objective, OutcomeLimit, hypervolume
    from doe.space import Parameter, SearchSpace


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'doe' has no attribute {name!r}")
