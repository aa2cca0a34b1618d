"""The error tree of li2s-doe.

Every error a user can cause is a :class:`DoeError`. Where it helps callers, an error
also subclasses a builtin (BoTorch's pattern), so ``except ValueError`` still works.
Messages name the campaign, the field, the value and the fix.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousCampaignError",
    "CampaignExistsError",
    "DefinitionError",
    "DoeError",
    "IncompatibleDefinitionError",
    "InvalidArgumentError",
    "InvalidMeasurementError",
    "InvalidSettingsError",
    "NotEnoughDataError",
    "StorageBusyError",
    "StorageError",
    "TrackingError",
    "TrackingWarning",
    "TrialStateError",
    "UnknownCampaignError",
    "UnknownStrategyError",
    "UnknownTrialError",
]


class DoeError(Exception):
    """Base class of every li2s-doe error."""


class InvalidArgumentError(DoeError, ValueError):
    """An option of a call is out of its range (batch size, lease, operator name)."""


class DefinitionError(DoeError, ValueError):
    """A campaign definition (TOML file or dict) is invalid."""


class IncompatibleDefinitionError(DefinitionError):
    """A definition would change an existing campaign incompatibly."""


class InvalidSettingsError(DoeError, ValueError):
    """Settings (parameter values) are unknown, missing, non-finite or out of bounds."""


class InvalidMeasurementError(DoeError, ValueError):
    """Measured outcomes are unknown, missing or not finite numbers."""


class NotEnoughDataError(DoeError, ValueError):
    """The campaign has too few measurements for what was asked (e.g. a model)."""


class UnknownCampaignError(DoeError, LookupError):
    """No campaign of that name exists in the storage."""


class AmbiguousCampaignError(DoeError, LookupError):
    """Several campaigns exist and none was named."""


class CampaignExistsError(DoeError, ValueError):
    """A campaign of that name already exists in the storage."""


class UnknownTrialError(DoeError, LookupError):
    """No trial with that number exists in the campaign."""


class TrialStateError(DoeError, ValueError):
    """The trial is not in a state that allows the operation (e.g. already recorded)."""


class UnknownStrategyError(DoeError, ValueError):
    """The strategy name is not one of the registered strategies."""


class StorageError(DoeError, RuntimeError):
    """The ledger's storage cannot be opened or written."""


class StorageBusyError(StorageError):
    """The storage is locked or unreachable right now; the operation wrote nothing."""


class TrackingError(DoeError, RuntimeError):
    """MLflow tracking failed; the ledger is unaffected."""


class TrackingWarning(UserWarning):
    """MLflow tracking is behind (unreachable or refused a write); the ledger is fine."""
