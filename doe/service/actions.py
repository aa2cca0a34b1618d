"""The writes of the service, shared by the JSON API and the web page.

Each one calls the Campaign with the signed-in user as the operator, then appends
to the audit log. The ledger is the truth: when the audit insert fails after the
Campaign wrote (the database hiccuped in between), the write stands, the failure
is logged, and the ledger still names the operator (``recorded_by``,
``claimed_by``, ``asked_by``).

Posting a result or a failure is idempotent: the same again returns the stored
record (``is_new=False``); a different one for a finished trial is a
:class:`~doe.exceptions.TrialStateError`. Nothing is told twice, because the
Campaign checks and writes under the campaign's lock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from doe.exceptions import (
    DoeError,
    InvalidMeasurementError,
    InvalidSettingsError,
    TrialStateError,
)

if TYPE_CHECKING:
    from doe.campaign import Campaign, DefinitionUpdate
    from doe.ledger import TrialRecord
    from doe.service.auth import AuthStore, User

__all__ = [
    "FieldErrors",
    "Written",
    "audit",
    "check_fixed",
    "check_outcomes",
    "correct_result",
    "create_campaign",
    "fail_trial",
    "outcome_field_errors",
    "pull",
    "record_result",
    "release",
    "suggest",
    "update_definition",
]

logger = logging.getLogger("doe.service")


@dataclass(frozen=True)
class Written:
    """The record after a write, and whether this call wrote it."""

    record: TrialRecord
    is_new: bool


class FieldErrors(Exception):  # noqa: N818 (carries a DoeError's message per field)
    """A DoeError of the Campaign's validation, with one message per named field.

    Attributes:
        error: The class name of the Campaign's error.
        detail: Its message.
        fields: ``{field: message}``, e.g. ``{"outcomes.retention_pct": "..."}``.
    """

    def __init__(self, error: str, detail: str, fields: Mapping[str, str]) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.fields = dict(fields)


def audit(
    store: AuthStore,
    user: User,
    action: str,
    campaign: str | None = None,
    trial: int | None = None,
    **detail: Any,
) -> None:
    """Append to the audit log; log (never raise) when that fails."""
    try:
        store.audit(user.name, action, campaign=campaign, trial=trial, detail=detail)
    except DoeError:
        logger.exception(
            "audit entry %s of %s on %s trial %s not written (the ledger has it)",
            action,
            user.name,
            campaign,
            trial,
        )


def outcome_field_errors(campaign: Campaign, raw: Mapping[str, Any]) -> dict[str, str]:
    """One message per outcome field that the Campaign rejects.

    Each field is checked alone by ``Campaign.validate_outcomes`` (the other
    objectives stand in as valid), so the messages are the Python API's own.
    """
    valid = {  # a value each objective accepts
        o.name: (o.valid_range or (0.0,))[0] for o in campaign.definition.objectives
    }
    errors: dict[str, str] = {}
    for key in [*raw, *(o for o in valid if o not in raw)]:
        probe: dict[str, Any] = {o: v for o, v in valid.items() if o != key}
        if key in raw:
            probe[key] = raw[key]
        try:
            campaign.validate_outcomes(probe)
        except InvalidMeasurementError as exc:
            errors[str(key)] = str(exc)
    return errors


def check_outcomes(campaign: Campaign, raw: Mapping[str, Any]) -> dict[str, float]:
    """The Campaign's check of measured outcomes, with per-field messages.

    Raises:
        FieldErrors: Naming each bad field (``outcomes.<name>``).
    """
    try:
        return campaign.validate_outcomes(raw)
    except InvalidMeasurementError as exc:
        fields = {
            f"outcomes.{k}": v for k, v in outcome_field_errors(campaign, raw).items()
        }
        raise FieldErrors(type(exc).__name__, str(exc), fields) from exc


def _check_holder(rec: TrialRecord, user: User, action: str) -> None:
    """Staff may write only trials that are unclaimed or claimed by themselves."""
    if rec.claimed_by not in (None, user.name) and not user.has_role("owner"):
        raise TrialStateError(
            f"Cannot {action} trial {rec.number}: it is claimed by {rec.claimed_by!r}, "
            f"not {user.name!r}. Ask them to release it, or wait until the claim ends."
        )


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        math.isclose(a[k], b[k], rel_tol=1e-12, abs_tol=0.0) for k in a
    )


def record_result(
    store: AuthStore,
    campaign: Campaign,
    trial: int,
    outcomes: Mapping[str, Any],
    *,
    user: User,
    note: str | None = None,
    series: Mapping[str, Sequence[float]] | None = None,
) -> Written:
    """Record a measured result; the same result again returns the stored record.

    Raises:
        FieldErrors: Bad outcomes (naming each field).
        TrialStateError: The trial is finished with other values, is failed or
            abandoned, or is claimed by someone else.
        UnknownTrialError: No such trial.
    """
    values = check_outcomes(campaign, outcomes)
    rec = campaign.trial(trial)
    if rec.state == "pending":
        _check_holder(rec, user, "record")
        try:
            rec = campaign.record(
                trial, values, operator=user.name, series=series, note=note
            )
        except TrialStateError:
            rec = campaign.trial(trial)  # finished a moment ago: maybe by our retry
            if not (rec.state == "complete" and _same(rec.outcomes, values)):
                raise
            return Written(rec, is_new=False)
        audit(store, user, "record", campaign.name, trial, outcomes=values, note=note)
        return Written(rec, is_new=True)
    if rec.state == "complete" and _same(rec.outcomes, values):
        return Written(rec, is_new=False)
    raise TrialStateError(
        f"Trial {trial} of campaign {campaign.name!r} is already {rec.state}"
        + (f" ({rec.failure_kind})" if rec.failure_kind else "")
        + (f" with outcomes {rec.outcomes}" if rec.outcomes else "")
        + "; a trial is recorded once, and this result differs. To fix a typo in "
        "the recorded result, correct it (POST .../correction, `doe correct`); to "
        "add a re-measurement, import it as a new experiment (`doe import`)."
    )


_NO_NOTE = (
    "Say why it is corrected (e.g. 'typo: 70.2, not 72.0'); the note is kept with "
    "the correction."
)


def _check_correction(
    campaign: Campaign,
    recorded: Mapping[str, float],
    outcomes: Mapping[str, Any],
    note: str,
) -> None:
    """Every bad field of a correction at once: outcomes (merged) and the note.

    No outcomes at all is left to the Campaign, whose message says so.
    """
    fields: dict[str, str] = {}
    detail = ""
    if outcomes:
        try:
            check_outcomes(campaign, {**recorded, **outcomes})
        except FieldErrors as exc:
            fields, detail = exc.fields, exc.detail
    if not note.strip():
        fields["note"] = _NO_NOTE
        detail = detail or _NO_NOTE
    if fields:
        raise FieldErrors("InvalidMeasurementError", detail, fields)


def correct_result(
    store: AuthStore,
    campaign: Campaign,
    trial: int,
    outcomes: Mapping[str, Any],
    note: str,
    *,
    user: User,
) -> Written:
    """Correct a recorded result: staff their own records, owners anyone's.

    Raises:
        TrialStateError: Not complete, or recorded by someone else (staff).
        FieldErrors: Bad outcomes or no note (naming each field; nothing is
            written).
        InvalidMeasurementError: No outcomes given.
        UnknownTrialError: No such trial.
    """
    rec = campaign.trial(trial)
    who = rec.attrs.get("recorded_by")
    if rec.state == "complete":
        if who != user.name and not user.has_role("owner"):
            raise TrialStateError(
                f"Cannot correct trial {trial}: it was recorded by {who!r}, not "
                f"{user.name!r}. Ask them, or an owner, to correct it."
            )
        _check_correction(campaign, rec.outcomes, outcomes, note)
    n_before = len(rec.attrs.get("corrections") or [])
    rec = campaign.correct(trial, outcomes, note=note, operator=user.name)
    if len(rec.attrs.get("corrections") or []) == n_before:
        return Written(rec, is_new=False)
    audit(
        store, user, "correct", campaign.name, trial, outcomes=rec.outcomes, note=note
    )
    return Written(rec, is_new=True)


def fail_trial(
    store: AuthStore,
    campaign: Campaign,
    trial: int,
    kind: str,
    note: str,
    *,
    user: User,
) -> Written:
    """Mark a pending trial failed; the same failure again returns the stored record.

    Raises:
        InvalidMeasurementError: Unknown failure kind.
        TrialStateError: The trial is finished otherwise, or claimed by someone else.
        UnknownTrialError: No such trial.
    """
    rec = campaign.trial(trial)
    if rec.state == "failed" and rec.failure_kind == kind:
        return Written(rec, is_new=False)
    if rec.state == "pending":
        _check_holder(rec, user, "fail")
    try:
        rec = campaign.fail(trial, kind, note, operator=user.name)
    except TrialStateError:
        rec = campaign.trial(trial)
        if not (rec.state == "failed" and rec.failure_kind == kind):
            raise
        return Written(rec, is_new=False)
    audit(store, user, "fail", campaign.name, trial, kind=kind, note=note)
    return Written(rec, is_new=True)


def release(
    store: AuthStore, campaign: Campaign, trial: int, *, user: User
) -> TrialRecord:
    """Release a claim: one's own (staff), or anyone's (owner).

    Raises:
        TrialStateError: Not pending, or claimed by someone else (staff).
        UnknownTrialError: No such trial.
    """
    operator = None if user.has_role("owner") else user.name
    before = campaign.trial(trial)
    rec = campaign.release(trial, operator=operator)
    audit(
        store, user, "release", campaign.name, trial, was_claimed_by=before.claimed_by
    )
    return rec


def check_fixed(campaign: Campaign, raw: Mapping[str, Any]) -> dict[str, float]:
    """The Campaign's check of knobs held fixed, with per-field messages.

    Raises:
        FieldErrors: Naming each bad field (``fixed.<knob>``; ``fixed`` when
            only the whole is wrong: every knob fixed).
    """
    space = campaign.definition.space
    try:
        return space.validate_fixed(raw)
    except InvalidSettingsError as exc:
        fields: dict[str, str] = {}
        for key, value in raw.items():
            try:
                space.validate_fixed({key: value})
            except InvalidSettingsError as one:
                fields[f"fixed.{key}"] = str(one)
        raise FieldErrors(
            type(exc).__name__, str(exc), fields or {"fixed": str(exc)}
        ) from exc


def pull(
    store: AuthStore,
    campaign: Campaign,
    *,
    user: User,
    lease_hours: float | None,
    fixed: Mapping[str, Any] | None = None,
) -> TrialRecord:
    """Claim the oldest unclaimed pending experiment for ``user``, else a new one.

    With ``fixed``, the oldest that holds those knob values, else a new one.

    Raises:
        FieldErrors: A bad fixed knob (naming each field; nothing is written).
    """
    held = check_fixed(campaign, fixed or {})
    suggestion = campaign.pull(user.name, lease_hours=lease_hours, fixed=held)
    rec = campaign.trial(suggestion.trial_id)
    audit(
        store,
        user,
        "pull",
        campaign.name,
        rec.number,
        claim_until=rec.attrs.get("claim_until"),
        **({"fixed": held} if held else {}),
    )
    return rec


def suggest(
    store: AuthStore,
    campaign: Campaign,
    n: int,
    *,
    user: User,
    strategy: str | None,
    claim: bool,
    lease_hours: float | None,
    fixed: Mapping[str, Any] | None = None,
    shared: Sequence[str] = (),
) -> list[TrialRecord]:
    """Propose ``n`` new experiments (one atomic, locked operation).

    Raises:
        FieldErrors: A bad fixed or shared knob (naming each field; nothing is
            written).
    """
    held = check_fixed(campaign, fixed or {})
    try:
        common = campaign.definition.space.validate_shared(shared, held)
    except InvalidSettingsError as exc:
        raise FieldErrors(type(exc).__name__, str(exc), {"shared": str(exc)}) from exc
    batch = campaign.suggest(
        n,
        operator=user.name,
        strategy=strategy,
        claim=claim,
        lease_hours=lease_hours,
        fixed=held,
        shared=common,
    )
    numbers = [s.trial_id for s in batch]
    audit(
        store,
        user,
        "suggest",
        campaign.name,
        None,
        trials=numbers,
        strategy=strategy,
        claim=claim,
        **({"fixed": held} if held else {}),
        **({"shared": list(common)} if common else {}),
    )
    return [campaign.trial(n) for n in numbers]


def create_campaign(
    store: AuthStore,
    definition: Mapping[str, Any],
    *,
    user: User,
    storage: str,
    tracking: bool | None,
) -> Campaign:
    """Create a campaign from the dict form of its TOML file.

    Raises:
        DefinitionError: The definition is invalid.
        CampaignExistsError: A campaign of that name exists.
    """
    from doe.campaign import Campaign

    campaign = Campaign.create(definition, storage, tracking=tracking)
    audit(
        store,
        user,
        "create",
        campaign.name,
        None,
        definition_hash=campaign.definition.hash,
    )
    return campaign


def update_definition(
    store: AuthStore,
    campaign: Campaign,
    definition: Mapping[str, Any],
    *,
    user: User,
    note: str | None,
    dry_run: bool,
) -> DefinitionUpdate:
    """Apply a changed definition (audited when written).

    Raises:
        DefinitionError: The definition is invalid.
        IncompatibleDefinitionError: It would change what the data mean.
    """
    result = campaign.update_definition(
        definition, note=note, operator=user.name, dry_run=dry_run
    )
    if result.written:
        audit(
            store,
            user,
            "update_definition",
            campaign.name,
            None,
            from_hash=result.old.hash,
            to_hash=result.new.hash,
            fields=[c.field for c in result.changes],
            note=note,
        )
    return result
