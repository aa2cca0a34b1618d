"""Campaign: the one stateful object. Suggest, record, fail, add; tables and fronts.

The ledger (an Optuna study) is the truth; every read goes to it, so several
processes and people can work on one campaign at once. Every read-then-write runs
under the campaign's lock.
"""

from __future__ import annotations

import getpass
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from doe.definition import CampaignDefinition, DefinitionChange
from doe.exceptions import (
    IncompatibleDefinitionError,
    InvalidArgumentError,
    InvalidMeasurementError,
    NotEnoughDataError,
    TrialStateError,
)
from doe.ledger import (
    ABANDONED,
    FAILURE_KINDS,
    Ledger,
    TrialRecord,
    list_campaigns,
    mask_url,
)
from doe.objectives import hypervolume, objective_matrix, pareto_mask
from doe.space import closest_name, to_finite_float

if TYPE_CHECKING:
    import pandas as pd

    from doe.strategies import History
    from doe.tracking import SyncReport, Tracker

__all__ = ["Campaign", "DefinitionUpdate", "Suggestion", "list_campaigns"]

MAX_BATCH = 64


@dataclass(frozen=True)
class Suggestion:
    """A proposed experiment.

    Attributes:
        trial_id: The trial number to record the result against.
        params: Settings in natural units.
        predicted: ``{outcome: (mean, std)}`` of the model (empty for space-filling
            points).
        strategy: The strategy that chose it.
        reason: Why (``initial design``, ``model: qLogNEHVI``, ``fallback: ...``).
        acq_value: Log-acquisition value of its batch (NaN without a model).
        claimed_by: Who holds it (``doe pull``), if anyone.
        fixed: Knobs the asker held at given values (``{name: value}``; empty
            when the strategy chose every knob).
        shared: Knobs its batch shares (one synthesis for several cells).
    """

    trial_id: int
    params: dict[str, float]
    predicted: dict[str, tuple[float, float]] = field(default_factory=dict)
    strategy: str = ""
    reason: str = ""
    acq_value: float = math.nan
    claimed_by: str | None = None
    fixed: dict[str, float] = field(default_factory=dict)
    shared: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: TrialRecord) -> Suggestion:
        """The suggestion stored in a pending trial."""
        prov = record.attrs.get("provenance", {})
        return cls(
            trial_id=record.number,
            params=dict(record.params),
            predicted={
                k: (v[0], v[1]) for k, v in (prov.get("predicted") or {}).items()
            },
            strategy=str(prov.get("strategy", "")),
            reason=str(prov.get("reason", "")),
            acq_value=float(prov.get("acq_value", math.nan) or math.nan),
            claimed_by=record.claimed_by,
            fixed=dict(prov.get("fixed") or {}),
            shared=tuple(prov.get("shared") or ()),
        )


@dataclass(frozen=True)
class DefinitionUpdate:
    """The outcome of :meth:`Campaign.update_definition`.

    Attributes:
        old: The definition before.
        new: The definition given.
        changes: Every field that differs, in file order.
        written: Whether the new definition was stored (not on a dry run, nor
            when nothing changed).
    """

    old: CampaignDefinition
    new: CampaignDefinition
    changes: tuple[DefinitionChange, ...]
    written: bool


def _propose(
    strat: Any,
    history: History,
    n: int,
    held: Mapping[str, float],
    shared: Sequence[str],
) -> list[Any]:
    """``n`` proposals holding ``held``; with ``shared``, the batch shares those knobs.

    The first is chosen as usual; the others with its values of the shared knobs
    held and it pending.
    """

    def ask(h: History, k: int, fixed: Mapping[str, float]) -> list[Any]:
        # strategies without the `fixed` keyword still work when nothing is held
        got = strat.propose(h, k, fixed=dict(fixed)) if fixed else strat.propose(h, k)
        return list(got)

    if not shared or n == 1:
        return ask(history, n, held)
    first = ask(history, 1, held)
    batch = {**held, **{k: float(first[0].params[k]) for k in shared}}
    props = [*first, *ask(history.with_pending(first), n - 1, batch)]
    return [replace(p, info={**p.info, "shared": list(shared)}) for p in props]


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds")


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Campaign:
    """One optimization effort, stored in a ledger.

    Example:
        >>> c = Campaign.create("campaigns/li2s_si/campaign.toml", storage=url)  # doctest: +SKIP
        >>> batch = c.suggest(4)  # doctest: +SKIP
        >>> c.record(batch[0].trial_id, {"specific_energy_wh_kg": 251.0, ...})  # doctest: +SKIP
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        device: str = "cpu",
        tracking: bool | None = None,
        tracking_uri: str | None = None,
    ) -> None:
        self._ledger = ledger
        self.device = device
        self._tracking = tracking
        self._tracking_uri = tracking_uri
        self._tracker: Tracker | None = None

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls,
        source: CampaignDefinition | Mapping[str, Any] | str | Path,
        storage: str | None = None,
        *,
        device: str = "cpu",
        tracking: bool | None = None,
        tracking_uri: str | None = None,
    ) -> Campaign:
        """Create a campaign (and the ledger's schema) from a definition.

        Args:
            source: A definition, its dict form, or a TOML path.
            storage: Ledger URL (default ``$DOE_STORAGE`` or ``sqlite:///doe.db``).
            device: ``"cpu"`` or ``"cuda"`` for the model.
            tracking: Mirror to MLflow (default: the definition's ``tracking``).
            tracking_uri: MLflow URI (default ``$MLFLOW_TRACKING_URI`` or the
                embedded store ``mlflow/mlflow.db``).

        Raises:
            DefinitionError: The definition is invalid.
            CampaignExistsError: A campaign of that name exists.
        """
        definition = CampaignDefinition.coerce(source)
        campaign = cls(
            Ledger.create(definition, storage),
            device=device,
            tracking=tracking,
            tracking_uri=tracking_uri,
        )
        campaign._track()  # the MLflow experiment exists from the start
        return campaign

    @classmethod
    def load(
        cls,
        name: str | None = None,
        storage: str | None = None,
        *,
        device: str = "cpu",
        tracking: bool | None = None,
        tracking_uri: str | None = None,
    ) -> Campaign:
        """Load a campaign by name (``None``: the only one in the storage).

        Raises:
            UnknownCampaignError: No such campaign, or no storage file.
            AmbiguousCampaignError: No name given and several campaigns exist.
        """
        return cls(
            Ledger.load(name, storage),
            device=device,
            tracking=tracking,
            tracking_uri=tracking_uri,
        )

    @property
    def name(self) -> str:
        """The campaign's name."""
        return self._ledger.name

    @property
    def storage(self) -> str:
        """The ledger URL."""
        return self._ledger.url

    @property
    def definition(self) -> CampaignDefinition:
        """The stored definition."""
        return self._ledger.definition

    def update_definition(
        self,
        source: CampaignDefinition | Mapping[str, Any] | str | Path,
        *,
        note: str | None = None,
        operator: str | None = None,
        dry_run: bool = False,
    ) -> DefinitionUpdate:
        """Apply a changed campaign file to this campaign, keeping its data.

        Thresholds, limits, valid ranges, outcomes, descriptions, the strategy
        and its settings may change, and a knob's bounds may move (widened when
        the best cells sit at an edge, say) as long as every experiment in the
        ledger (pending, complete or failed) still lies inside them and every
        recorded result inside its objective's valid range. Suggestions from then
        on use the new definition; recorded data stay as they are. Each update is
        kept with the campaign (:meth:`definition_history`: what changed, who,
        when, why) and the MLflow experiment's tags follow it.

        Args:
            source: The new definition, its dict form, or a TOML path.
            note: Why (kept with the update).
            operator: Who updates it.
            dry_run: Check and list the changes; write nothing.

        Returns:
            The old and new definitions, the changes, and whether they were
            written (nothing is written when nothing changed).

        Raises:
            DefinitionError: The new definition is invalid.
            IncompatibleDefinitionError: It would change what the data mean
                (name, knobs, objectives), or leave an experiment outside a
                knob's bounds or a result outside its valid range; nothing is
                written.
        """
        from doe.definition import definition_changes

        new = CampaignDefinition.coerce(source)
        with self._ledger.lock():
            old = self.definition
            old.check_compatible(new)
            self._check_trials_fit(new)
            changes = definition_changes(old, new)
            if dry_run or not changes:
                return DefinitionUpdate(old, new, tuple(changes), written=False)
            self._ledger.update_definition(
                new,
                {
                    "at": _now().isoformat(timespec="seconds"),
                    "by": operator or _whoami(),
                    "note": (note or "").strip(),
                    "from_hash": old.hash,
                    "to_hash": new.hash,
                    "changes": [[c.field, c.old, c.new] for c in changes],
                },
            )
        tracker = self._tracker_or_none()
        if tracker is not None:
            tracker.update(definition_changed=True)
        return DefinitionUpdate(old, new, tuple(changes), written=True)

    def definition_history(self) -> list[dict[str, Any]]:
        """Every update of the definition, oldest first.

        Each: ``at`` (ISO time), ``by``, ``note``, ``from_hash``, ``to_hash``
        and ``changes`` (``[field, old, new]`` lists).
        """
        return self._ledger.definition_changes()

    def _check_trials_fit(self, new: CampaignDefinition) -> None:
        """Every experiment inside the new bounds, every result in its range."""
        where = f"Campaign {self.name!r} cannot take the new definition"
        trials = [t for t in self.trials() if t.state != ABANDONED]
        for p in new.space.parameters:
            tol = 1e-9 * (p.high - p.low)
            values = [(t.params[p.name], t) for t in trials if p.name in t.params]
            low = min(values, key=lambda v: v[0], default=None)
            high = max(values, key=lambda v: v[0], default=None)
            for found, side, ok in (
                (low, "low", low is None or low[0] >= p.low - tol),
                (high, "high", high is None or high[0] <= p.high + tol),
            ):
                if not ok and found is not None:
                    value, t = found
                    bound, edge, way = (
                        (p.low, "lowest", "below")
                        if side == "low"
                        else (p.high, "highest", "above")
                    )
                    raise IncompatibleDefinitionError(
                        f"{where}: knob {p.name!r} {side} = {bound:g} {p.unit} leaves "
                        f"trial {t.number} ({t.state}, {value:g} {p.unit}) outside. "
                        f"Keep {side} at or {way} {value:g} {p.unit}, the {edge} "
                        "setting in the ledger."
                    )
        known = set(new.outcome_names)
        for t in trials:
            gone = sorted(set(t.outcomes) - known)
            if gone:
                raise IncompatibleDefinitionError(
                    f"{where}: outcome {gone[0]!r} is recorded for trial {t.number} "
                    "but not in the new definition; keep it (under [outcomes])."
                )
        for o in new.objectives:
            if o.valid_range is None:
                continue
            lo, hi = o.valid_range
            for t in trials:
                measured = t.outcomes.get(o.name)
                if measured is not None and not lo <= measured <= hi:
                    raise IncompatibleDefinitionError(
                        f"{where}: trial {t.number} holds {o.name} = {measured:g} "
                        f"{o.unit}, outside the new valid_range [{lo:g}, {hi:g}]. "
                        "Widen the range to hold it, or correct the trial first "
                        "(`doe correct`)."
                    )

    # ---------------------------------------------------------------- reads
    def trials(self) -> list[TrialRecord]:
        """Every trial, by number."""
        return self._ledger.trials()

    def trial(self, trial_id: int) -> TrialRecord:
        """One trial."""
        return self._ledger.trial(trial_id)

    def counts(self) -> dict[str, int]:
        """Number of trials by state."""
        out = {"pending": 0, "complete": 0, "failed": 0, "abandoned": 0}
        for t in self.trials():
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def history(self, trials: Sequence[TrialRecord] | None = None) -> History:
        """What a strategy sees."""
        from doe.strategies import History

        trials = self.trials() if trials is None else trials
        return History(
            definition=self.definition,
            complete=tuple(
                (t.params, t.outcomes, t.attrs) for t in trials if t.state == "complete"
            ),
            failed=tuple((t.params, t.attrs) for t in trials if t.state == "failed"),
            pending=tuple((t.params, t.attrs) for t in trials if t.state == "pending"),
            n_total=len(trials),
        )

    # ------------------------------------------------------------- suggest
    def suggest(
        self,
        n: int = 1,
        *,
        operator: str | None = None,
        strategy: str | None = None,
        claim: bool = False,
        lease_hours: float | None = None,
        fixed: Mapping[str, Any] | None = None,
        shared: Sequence[str] | None = None,
    ) -> list[Suggestion]:
        """Propose ``n`` new experiments, conditioned on every pending one.

        One atomic operation per campaign: concurrent callers (threads or processes,
        SQLite or PostgreSQL) never get the same point.

        Args:
            n: Batch size, 1 to 64.
            operator: Who asks (default: the OS user).
            strategy: Override the campaign's strategy for this batch.
            claim: Claim the new suggestions for ``operator``.
            lease_hours: Claim length (default: the campaign's suggestion TTL).
            fixed: Knobs held at given values, in their units (e.g. the
                synthesis batch on the shelf: ``{"co_precursor_g": 0.4,
                "nitridation_temp_c": 450}``); the strategy chooses the others,
                its model still learning from every experiment.
            shared: Knobs the whole batch shares (one synthesis batch for
                several cells: ``["co_precursor_g", "nitridation_temp_c"]``).
                The first experiment is chosen as usual; the others are chosen
                with its values of these knobs held (and it as pending).

        Returns:
            The suggestions, in order.

        Raises:
            InvalidArgumentError: ``n`` is not a whole number in [1, 64].
            InvalidSettingsError: ``fixed`` names an unknown knob, a value outside
                the bounds or off a grid knob's steps, or fixes every knob;
                ``shared`` names an unknown knob, or leaves no knob free.
            UnknownStrategyError: ``strategy`` is unknown.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BATCH:
            raise InvalidArgumentError(
                f"Batch size n must be a whole number from 1 to {MAX_BATCH}; got {n!r}."
            )
        from doe.strategies import make_strategy

        operator = operator or _whoami()
        definition = self.definition
        held = definition.space.validate_fixed(fixed)
        common = definition.space.validate_shared(shared, held)
        strat = make_strategy(
            strategy or definition.strategy, definition, device=self.device
        )
        with self._ledger.lock():
            expired = self._expire_stale()
            trials = self.trials()
            proposals = _propose(strat, self.history(trials), n, held, common)
            round_no = 1 + max(
                (int(t.attrs.get("round", 0)) for t in trials), default=0
            )
            asked_at = _iso(_now())
            out = []
            for p in proposals:
                params = definition.space.validate(p.params)
                attrs: dict[str, Any] = {
                    "source": "suggested",
                    "round": round_no,
                    "asked_by": operator,
                    "asked_at": asked_at,
                    "provenance": {
                        k: v for k, v in p.info.items() if k != "sampler_attrs"
                    },
                    "sampler_attrs": p.info.get("sampler_attrs", {}),
                }
                if claim:
                    attrs.update(self._claim_attrs(operator, lease_hours))
                number = self._ledger.add_trial(params, state="pending", attrs=attrs)
                out.append(Suggestion.from_record(self._ledger.trial(number)))
            self._store_round(
                round_no, strat, proposals, out,
                trials=trials, operator=operator, asked_at=asked_at,
            )  # fmt: skip
        self._track([*expired, *(s.trial_id for s in out)], round_no=round_no)
        return out

    def _store_round(
        self,
        round_no: int,
        strat: Any,
        proposals: Sequence[Any],
        out: Sequence[Suggestion],
        *,
        trials: Sequence[TrialRecord],
        operator: str,
        asked_at: str,
    ) -> None:
        """Keep the round's info (strategy, timings, diagnostics) in the ledger."""
        from doe.tracking import round_info

        info = round_info(
            strat,
            [
                {k: v for k, v in p.info.items() if k != "sampler_attrs"}
                for p in proposals
            ],
            [s.trial_id for s in out],
            operator=operator,
            asked_at=asked_at,
            states=[t.state for t in trials] + ["pending"] * len(out),
            hypervolume=self.hypervolume(),
        )
        self._ledger.set_round(round_no, info)

    def _claim_attrs(self, operator: str, lease_hours: float | None) -> dict[str, Any]:
        hours = (
            self.definition.suggestion_ttl_days * 24
            if lease_hours is None
            else lease_hours
        )
        hours = to_finite_float(hours, what="lease_hours", error=InvalidArgumentError)
        if hours <= 0:
            raise InvalidArgumentError(f"lease_hours must be > 0; got {hours}.")
        now = _now()
        return {
            "claimed_by": operator,
            "claimed_at": _iso(now),
            "claim_until": _iso(now + timedelta(hours=hours)),
        }

    def pull(
        self,
        operator: str,
        *,
        lease_hours: float | None = None,
        fixed: Mapping[str, Any] | None = None,
    ) -> Suggestion:
        """Give ``operator`` the next experiment and claim it for them.

        The oldest unclaimed pending suggestion (with ``fixed``, the oldest that
        holds those values), else a new one.

        Args:
            operator: The lab worker's name.
            lease_hours: How long the claim holds (default: the suggestion TTL).
            fixed: Knobs held at given values (see :meth:`suggest`).

        Raises:
            InvalidSettingsError: ``fixed`` is not valid (see :meth:`suggest`).
        """
        operator = _check_operator(operator)
        space = self.definition.space
        held = space.validate_fixed(fixed)
        self._track()  # loads mlflow before the lock (suggest may run under it)
        with self._ledger.lock():
            expired = self._expire_stale()
            free = [
                t
                for t in self.trials()
                if t.state == "pending"
                and t.claimed_by is None
                and space.matches(t.params, held)
            ]
            if not free:
                self._track(expired)
                return self.suggest(
                    1,
                    operator=operator,
                    claim=True,
                    lease_hours=lease_hours,
                    fixed=held,
                )[0]
            self._ledger.set_attrs(
                free[0].number, self._claim_attrs(operator, lease_hours)
            )
        self._track([*expired, free[0].number])
        return Suggestion.from_record(self._ledger.trial(free[0].number))

    def release(self, trial_id: int, *, operator: str | None = None) -> TrialRecord:
        """Release a claim so that someone else can pull the experiment."""
        with self._ledger.lock():
            rec = self._pending(trial_id, "release")
            if operator is not None and rec.claimed_by not in (None, operator):
                raise TrialStateError(
                    f"Trial {trial_id} of campaign {self.name!r} is claimed by "
                    f"{rec.claimed_by!r}, not {operator!r}; only they can release it."
                )
            self._ledger.set_attrs(trial_id, {"claimed_by": None, "claim_until": None})
        self._track([trial_id])
        return self._ledger.trial(trial_id)

    def _pending(self, trial_id: int, action: str) -> TrialRecord:
        rec = self._ledger.trial(trial_id)
        if rec.state != "pending":
            kind = f" ({rec.failure_kind})" if rec.failure_kind else ""
            raise TrialStateError(
                f"Cannot {action} trial {trial_id} of campaign {self.name!r}: it is already "
                f"{rec.state}{kind}. A trial is recorded, failed or abandoned once; use "
                "`doe import` to add a re-measurement as a new experiment."
            )
        return rec

    def _expire_stale(self) -> list[int]:
        """Abandon unclaimed suggestions older than the campaign's TTL; their numbers."""
        ttl = timedelta(days=self.definition.suggestion_ttl_days)
        cutoff = _iso(_now() - ttl)
        expired = []
        for t in self.trials():
            if (
                t.state == "pending"
                and t.claimed_by is None
                and (t.created_at or "") < cutoff
            ):
                self._ledger.finish(
                    t.number,
                    state="failed",
                    attrs={
                        "failure_kind": ABANDONED,
                        "failure_note": f"unclaimed for more than {ttl.days} days",
                    },
                )
                expired.append(t.number)
        return expired

    # -------------------------------------------------------------- writes
    def validate_outcomes(
        self, outcomes: Mapping[str, Any], *, where: str = ""
    ) -> dict[str, float]:
        """Check measured outcomes against the definition.

        Raises:
            InvalidMeasurementError: Unknown outcome, a missing objective, a value
                that is not a finite number, or an objective outside its
                ``valid_range``.
        """
        d = self.definition
        known = d.outcome_names
        if not isinstance(outcomes, Mapping):
            raise InvalidMeasurementError(
                f"Outcomes{where} must be a mapping of outcome name to value; got {outcomes!r}."
            )
        for key in outcomes:
            if key not in known:
                raise InvalidMeasurementError(
                    f"Unknown outcome {key!r}{where} for campaign {self.name!r}."
                    f"{closest_name(str(key), known)} Known outcomes: {', '.join(known)}."
                )
        missing = [o.name for o in d.objectives if o.name not in outcomes]
        if missing:
            raise InvalidMeasurementError(
                f"Missing objective(s) {', '.join(map(repr, missing))}{where} for campaign "
                f"{self.name!r}; every objective needs a measured value (use `doe fail` if "
                "the experiment failed)."
            )
        values = {
            key: to_finite_float(
                value,
                what=f"Outcome {key!r}{where} [{d.outcome_unit(key)}]",
                error=InvalidMeasurementError,
            )
            for key, value in outcomes.items()
        }
        for o in d.objectives:
            if o.out_of_range(values[o.name]):
                low, high = o.valid_range or (0.0, 0.0)
                raise InvalidMeasurementError(
                    f"Outcome {o.name!r}{where} [{o.unit}] = {values[o.name]:g} is "
                    f"outside its valid range {low:g} to {high:g}; check it for a typo "
                    "(or widen valid_range of this objective in the campaign file)."
                )
        return values

    def record(
        self,
        trial_id: int,
        outcomes: Mapping[str, Any],
        *,
        operator: str | None = None,
        series: Mapping[str, Sequence[float]] | None = None,
        note: str | None = None,
    ) -> TrialRecord:
        """Record the measured outcomes of a pending trial.

        Args:
            trial_id: The trial number of the suggestion.
            outcomes: ``{outcome: value}``; every objective is required.
            operator: Who measured it.
            series: Per-cycle data, e.g. ``{"capacity_mah_g": [...]}``.
            note: Free text.

        Raises:
            UnknownTrialError: No such trial.
            TrialStateError: Already recorded, failed or abandoned.
            InvalidMeasurementError: Bad outcomes.
        """
        values = self.validate_outcomes(outcomes)
        extra = _series_attrs(series)
        with self._ledger.lock():
            self._pending(trial_id, "record")
            attrs = {
                "outcomes": values,
                "recorded_by": operator or _whoami(),
                **extra,
                **({"note": note} if note else {}),
            }
            rec = self._ledger.finish(
                trial_id, state="complete", values=self._values(values), attrs=attrs
            )
        self._track([trial_id])
        return rec

    def correct(
        self,
        trial_id: int,
        outcomes: Mapping[str, Any],
        *,
        note: str,
        operator: str | None = None,
    ) -> TrialRecord:
        """Correct outcomes of a recorded trial (a typo found later).

        The outcomes given replace those recorded; the others stay. Every
        correction is kept with the outcomes it replaced, who made it, when and
        why (``attrs["corrections"]``); tables, fronts, models and MLflow use the
        corrected values from then on. Correcting to the values already there
        writes nothing.

        Args:
            trial_id: A complete trial.
            outcomes: ``{outcome: value}``, one or more.
            note: Why (kept with the correction; required).
            operator: Who corrects it.

        Returns:
            The trial as corrected.

        Raises:
            UnknownTrialError: No such trial.
            TrialStateError: The trial is not complete.
            InvalidMeasurementError: Bad outcomes (nothing is written).
            InvalidArgumentError: No note.
        """
        if not isinstance(note, str) or not note.strip():
            raise InvalidArgumentError(
                f"Say why trial {trial_id} is corrected (a note such as 'typo: "
                "retention was 70.2, not 72.0'); it is kept with the correction."
            )
        if not isinstance(outcomes, Mapping) or not outcomes:
            raise InvalidMeasurementError(
                f"Give the corrected outcome(s) of trial {trial_id}, e.g. "
                "retention_pct=70.2; got none."
            )
        with self._ledger.lock():
            current = self._ledger.trial(trial_id)
            self._ledger.check_correctable(current)
            merged = self.validate_outcomes({**current.outcomes, **outcomes})
            if merged == current.outcomes:
                return current
            rec = self._ledger.correct(
                trial_id,
                merged,
                {
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "by": operator or _whoami(),
                    "note": note.strip(),
                },
            )
        self._track([trial_id])
        return rec

    def record_many(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        operator: str | None = None,
    ) -> list[TrialRecord]:
        """Record many results at once: all rows are checked before any is written.

        Each row holds ``trial_id`` and ``outcomes`` (and optionally ``note``,
        ``series``, ``where`` — e.g. ``" in results.csv row 3"`` — for messages). The
        checks and the writes run under one campaign lock, so a concurrent writer
        cannot leave the file half recorded.

        Raises:
            InvalidMeasurementError: A bad value (naming the row).
            UnknownTrialError: A row names no trial of the campaign.
            TrialStateError: A row's trial is not pending, or two rows name one trial.
        """
        prepared = []
        for i, row in enumerate(rows):
            where = row.get("where") or (f" in row {i + 1}" if len(rows) > 1 else "")
            values = self.validate_outcomes(row.get("outcomes") or {}, where=where)
            prepared.append((row, values, _series_attrs(row.get("series")), where))
        numbers = [int(row["trial_id"]) for row, *_ in prepared]
        seen = {n for n in numbers if numbers.count(n) > 1}
        if seen:
            raise TrialStateError(
                f"Trial(s) {sorted(seen)} appear more than once; record each trial once."
            )
        out = []
        with self._ledger.lock():
            for (_row, _, _, where), n in zip(prepared, numbers, strict=True):
                try:
                    self._pending(n, "record")
                except TrialStateError as exc:
                    raise TrialStateError(
                        f"{exc}{where and ' (' + where.strip() + ')'}"
                    ) from exc
            for (row, values, extra, _), n in zip(prepared, numbers, strict=True):
                attrs = {
                    "outcomes": values,
                    "recorded_by": operator or _whoami(),
                    **extra,
                    **({"note": row["note"]} if row.get("note") else {}),
                }
                out.append(
                    self._ledger.finish(
                        n, state="complete", values=self._values(values), attrs=attrs
                    )
                )
        self._track(numbers)
        return out

    def model_quality(self) -> dict[str, dict[str, Any]]:
        """Leave-one-out quality of the GP model on the measured data, per outcome.

        Returns:
            ``{outcome: {"r2", "coverage_95", "rmse", "n", "lengthscales",
            "noise_std", "prior_weight"}}`` of the ``gp`` model with the
            campaign's ``[gp]`` settings; empty while the model cannot be fitted
            (too few measurements or constant outcomes).
        """
        from doe.strategies import GPStrategy, make_strategy

        strategy = make_strategy("gp", self.definition, device=self.device)
        assert isinstance(strategy, GPStrategy)  # make_strategy's "gp"
        return strategy.diagnose(self.history())

    def _values(self, outcomes: Mapping[str, float]) -> list[float]:
        return [outcomes[o.name] for o in self.definition.objectives]

    def fail(
        self,
        trial_id: int,
        kind: str,
        note: str = "",
        *,
        operator: str | None = None,
    ) -> TrialRecord:
        """Mark a pending trial as failed.

        Args:
            trial_id: The trial number.
            kind: One of ``build_failed``, ``short_circuit``, ``safety_test_failed``,
                ``lost``.
            note: What happened.
            operator: Who reports it.

        Raises:
            InvalidMeasurementError: Unknown failure kind.
            TrialStateError: The trial is not pending.
        """
        if kind not in FAILURE_KINDS:
            raise InvalidMeasurementError(
                f"Failure kind {kind!r} is unknown.{closest_name(str(kind), FAILURE_KINDS)} "
                f"Choose one of: {', '.join(FAILURE_KINDS)}."
            )
        with self._ledger.lock():
            self._pending(trial_id, "fail")
            rec = self._ledger.finish(
                trial_id,
                state="failed",
                attrs={
                    "failure_kind": kind,
                    "failure_note": note,
                    "recorded_by": operator or _whoami(),
                },
            )
        self._track([trial_id])
        return rec

    def abandon(
        self, trial_id: int, *, note: str = "", operator: str | None = None
    ) -> TrialRecord:
        """Withdraw a suggestion nobody will run (no longer treated as pending)."""
        with self._ledger.lock():
            self._pending(trial_id, "abandon")
            rec = self._ledger.finish(
                trial_id,
                state="failed",
                attrs={
                    "failure_kind": ABANDONED,
                    "failure_note": note,
                    "recorded_by": operator or _whoami(),
                },
            )
        self._track([trial_id])
        return rec

    def add(
        self,
        settings: Mapping[str, Any],
        outcomes: Mapping[str, Any] | None = None,
        *,
        failure_kind: str | None = None,
        source: str = "recorded",
        operator: str | None = None,
        note: str | None = None,
        series: Mapping[str, Sequence[float]] | None = None,
    ) -> int:
        """Add an experiment that was never suggested; returns its trial number."""
        return self.add_many(
            [
                {
                    "settings": settings,
                    "outcomes": outcomes,
                    "failure_kind": failure_kind,
                    "note": note,
                    "series": series,
                }
            ],
            source=source,
            operator=operator,
        )[0]

    def add_many(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        source: str = "recorded",
        operator: str | None = None,
    ) -> list[int]:
        """Add many recorded experiments: all are checked before any is written.

        Each row holds ``settings`` and either ``outcomes`` or ``failure_kind`` (and
        optionally ``note``, ``series``, ``where`` for messages).

        Raises:
            InvalidSettingsError: Bad settings (naming the row).
            InvalidMeasurementError: Bad outcomes or failure kind (naming the row).
        """
        space = self.definition.space
        checked: list[
            tuple[
                dict[str, float], dict[str, float] | None, str | None, Mapping[str, Any]
            ]
        ] = []
        for i, row in enumerate(rows):
            where = row.get("where") or (f" in row {i + 1}" if len(rows) > 1 else "")
            params = space.validate(row["settings"], where=where)
            kind = row.get("failure_kind")
            if kind is not None:
                if kind not in FAILURE_KINDS:
                    raise InvalidMeasurementError(
                        f"Failure kind {kind!r}{where} is unknown; choose one of "
                        f"{', '.join(FAILURE_KINDS)}."
                    )
                checked.append((params, None, kind, row))
            else:
                measured = self.validate_outcomes(
                    row.get("outcomes") or {}, where=where
                )
                checked.append((params, measured, None, row))
        numbers = []
        with self._ledger.lock():
            for params, values, kind, row in checked:
                attrs: dict[str, Any] = {
                    "source": source,
                    "recorded_by": operator or _whoami(),
                    **_series_attrs(row.get("series")),
                }
                if row.get("note"):
                    attrs["note"] = row["note"]
                if values is not None:
                    attrs["outcomes"] = values
                    numbers.append(
                        self._ledger.add_trial(
                            params,
                            state="complete",
                            values=self._values(values),
                            attrs=attrs,
                        )
                    )
                else:
                    attrs.update(failure_kind=kind, failure_note=row.get("note") or "")
                    numbers.append(
                        self._ledger.add_trial(params, state="failed", attrs=attrs)
                    )
        self._track(numbers)
        return numbers

    # ------------------------------------------------------------ tracking
    @property
    def tracking_status(self) -> str:
        """The MLflow mirror: ``"off"``, ``"ok"`` or ``"behind: <reason>"``.

        ``ok`` means every write of this object reached MLflow; after ``behind``,
        :meth:`sync_tracking` (``doe sync``) catches up.
        """
        tracker = self._tracker_or_none()
        return "off" if tracker is None else tracker.status

    def sync_tracking(self) -> SyncReport:
        """Bring MLflow level with the ledger: one run per trial and per round.

        Safe to repeat: a second sync creates and updates nothing.

        Returns:
            Counts of runs created, updated and unchanged (``status="off"`` and no
            counts when tracking is off).

        Raises:
            TrackingError: MLflow is unreachable or refused a write; the ledger is
                unaffected.
        """
        tracker = self._tracker_or_none()
        if tracker is None:
            from doe.tracking import SyncReport

            return SyncReport(status="off")
        return tracker.sync()

    def _tracker_or_none(self) -> Tracker | None:
        on = self.definition.tracking if self._tracking is None else self._tracking
        if not on:
            return None
        if self._tracker is None:
            from doe.tracking import LedgerAccess, Tracker

            self._tracker = Tracker(
                self.name,
                uri=self._tracking_uri,
                storage=mask_url(self.storage),
                ledger=LedgerAccess(
                    trials=self.trials,
                    rounds=self._ledger.rounds,
                    definition=lambda: self.definition,
                    lock=self._ledger.lock,
                    identity=lambda: str(
                        self._ledger.study().user_attrs.get("doe:created_at", "")
                    ),
                ),
            )
        return self._tracker

    def _track(
        self, numbers: Sequence[int] = (), *, round_no: int | None = None
    ) -> None:
        """Mirror written trials (and a new round) to MLflow; never raises for it.

        Called after the write's lock is released: the tracker loads mlflow first,
        then re-reads the trials under the lock, so the mirror never goes back.
        """
        tracker = self._tracker_or_none()
        if tracker is not None:
            tracker.update(numbers, round_no=round_no)

    # ------------------------------------------------------------ analysis
    def table(self) -> pd.DataFrame:
        """Every trial as a row: number, state, settings, outcomes, provenance.

        ``fixed`` names the knobs the asker held (``name=value, ...``);
        ``corrections`` counts corrections of a recorded result; ``corrected``
        says when, by whom and why, and what each replaced.
        """
        import pandas as pd

        d = self.definition
        rows = []
        for t in self.trials():
            prov = t.attrs.get("provenance", {})
            fixes = t.attrs.get("corrections") or []
            row: dict[str, Any] = {
                "trial": t.number,
                "state": t.state,
                "source": t.attrs.get("source"),
                "round": t.attrs.get("round"),
            }
            row.update({p: t.params.get(p) for p in d.space.names})
            row.update({o: t.outcomes.get(o, np.nan) for o in d.outcome_names})
            for name, (mean, std) in (prov.get("predicted") or {}).items():
                row[f"pred_{name}"] = mean
                row[f"pred_{name}_std"] = std
            row.update(
                strategy=prov.get("strategy"),
                reason=prov.get("reason"),
                fixed=", ".join(
                    f"{k}={v:g}" for k, v in (prov.get("fixed") or {}).items()
                )
                or None,
                acq_value=prov.get("acq_value"),
                model_version=prov.get("model_version"),
                data_hash=prov.get("data_hash"),
                seed=prov.get("seed"),
                failure_kind=t.failure_kind,
                failure_note=t.attrs.get("failure_note"),
                asked_by=t.attrs.get("asked_by"),
                asked_at=t.attrs.get("asked_at"),
                claimed_by=t.claimed_by,
                recorded_by=t.attrs.get("recorded_by"),
                created_at=t.created_at,
                finished_at=t.finished_at,
                corrections=len(fixes),
                corrected=(
                    "; ".join(
                        f"{c.get('at')} by {c.get('by')}: {c.get('note')} (was "
                        + ", ".join(
                            f"{k}={v:g}"
                            for k, v in (c.get("previous") or {}).items()
                            if (c.get("outcomes") or {}).get(k) != v
                        )
                        + ")"
                        for c in fixes
                    )
                    or None
                ),
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def _feasible_complete(self) -> list[TrialRecord]:
        d = self.definition
        out = []
        for t in self.trials():
            if t.state != "complete":
                continue
            if _meets_every_limit(d, t.outcomes):
                out.append(t)
        return out

    def pareto(self, *, model: bool = False) -> pd.DataFrame:
        """The Pareto front of the measured experiments.

        Args:
            model: By the measurements (default): the experiments that meet every
                limit and that no other such experiment beats. With ``model=True``,
                by the ``gp`` model's estimate of each measured experiment's
                expected outcomes instead (the measurement smoothed by its
                neighbours and the inferred scatter; limits checked on the
                estimate): fewer lucky measurements on it, and the estimate's
                ``est_<outcome>`` and ``est_<outcome>_std`` columns beside the
                measured ones. Empty while the model cannot be fitted.

        Returns:
            The front's rows of ``table()``.
        """
        import pandas as pd

        d = self.definition
        table = self.table()
        if model:
            return self._model_pareto(table)
        trials = self._feasible_complete()
        if not trials:
            return table.iloc[0:0]
        obj = objective_matrix([t.outcomes for t in trials], d.objectives)
        mask = pareto_mask(obj)
        keep = [t.number for t, m in zip(trials, mask, strict=True) if m]
        front = table[table["trial"].isin(keep)]
        return pd.DataFrame(front).reset_index(drop=True)

    def _model_pareto(self, table: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        from doe.strategies import GPStrategy, make_strategy

        d = self.definition
        trials = self.trials()
        complete = [t for t in trials if t.state == "complete"]
        strategy = make_strategy("gp", d, device=self.device)
        assert isinstance(strategy, GPStrategy)  # make_strategy's "gp"
        est = strategy.estimate(self.history(trials), [t.params for t in complete])
        if not est:
            return table.iloc[0:0]
        means = {name: mean for name, (mean, _) in est.items()}
        idx = np.flatnonzero(_meets_limits(d, means))
        signed = np.column_stack([o.sign * means[o.name] for o in d.objectives])[idx]
        keep = idx[pareto_mask(signed)] if len(idx) else idx
        rows = table.set_index("trial").loc[[complete[i].number for i in keep]]
        front = pd.DataFrame(rows).reset_index()
        for name, (mean, std) in est.items():
            front[f"est_{name}"] = mean[keep]
            front[f"est_{name}_std"] = std[keep]
        return front

    def predict(self, settings: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """What the ``gp`` model expects of settings before they are tried: a what-if.

        The model is the one the ``gp`` strategy proposes with (the campaign's
        ``[gp]`` table, fitted on every measured experiment).

        Args:
            settings: One mapping with every knob per setting, in the campaign's
                units.

        Returns:
            One row per setting: the knobs; ``est_<outcome>`` and
            ``est_<outcome>_std`` for the objectives and limited outcomes (the
            expected outcome and its uncertainty; one measurement scatters more);
            ``p_limits``, the chance that the expected outcomes meet every limit
            (normal, outcomes independent; 1 without limits); ``nearest_trial``
            and ``nearest_distance``, the closest measured experiment and its
            distance (root mean square over the knobs, each scaled to 0-1 over
            its range): far from every measurement the model mostly repeats its
            prior; ``dominated_by``, a measured experiment whose estimate meets
            the limits and is at least as good in every objective (``None``: the
            model expects this setting on or beyond the front of what was
            measured).

        Raises:
            InvalidSettingsError: A setting has an unknown, missing or
                out-of-range knob (the message names the row); nothing is fitted.
            NotEnoughDataError: The model cannot be fitted yet (fewer than 4
                measured experiments, or outcomes that do not vary).
        """
        import pandas as pd

        from doe.strategies import GPStrategy, make_strategy

        d = self.definition
        rows = list(settings)
        if not rows:
            raise InvalidArgumentError(
                "Give at least one setting to predict (a value for every knob: "
                f"{', '.join(d.space.names)})."
            )
        checked = [
            d.space.validate(row, where=f" in row {i + 1}" if len(rows) > 1 else "")
            for i, row in enumerate(rows)
        ]
        trials = self.trials()
        complete = [t for t in trials if t.state == "complete"]
        strategy = make_strategy("gp", d, device=self.device)
        assert isinstance(strategy, GPStrategy)  # make_strategy's "gp"
        est = strategy.estimate(
            self.history(trials), [*checked, *(t.params for t in complete)]
        )
        if not est:
            raise NotEnoughDataError(
                f"Campaign {self.name!r} has {len(complete)} measured experiment(s); "
                "the model needs at least 4 whose outcomes differ. Record more "
                "results, then predict again."
            )
        n = len(checked)
        frame = pd.DataFrame(checked)
        p_limits = np.ones(n)
        for lim in d.limits:
            mean, std = est[lim.name]
            z = (mean[:n] - lim.value) / np.maximum(std[:n], 1e-12)
            p_limits *= _normal_cdf(z if lim.op == ">=" else -z)
        for name, (mean, std) in est.items():
            frame[f"est_{name}"] = mean[:n]
            frame[f"est_{name}_std"] = std[:n]
        frame["p_limits"] = p_limits
        new = d.space.encode(checked)
        if complete:
            old = d.space.encode([t.params for t in complete])
            dist = np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).mean(axis=2))
            nearest = dist.argmin(axis=1)
            frame["nearest_trial"] = [complete[i].number for i in nearest]
            frame["nearest_distance"] = dist[np.arange(n), nearest]
        means = {name: mean for name, (mean, _) in est.items()}
        frame["dominated_by"] = pd.Series(  # object: trial numbers and None
            _dominated_by(d, means, n, complete), dtype=object
        )
        return frame

    def reference_point(self) -> list[float]:
        """The hypervolume reference point (signed for maximisation)."""
        d = self.definition
        ref = []
        trials = [t for t in self.trials() if t.state == "complete"]
        for o in d.objectives:
            if o.threshold is not None:
                ref.append(o.sign * o.threshold)
            else:
                vals = [
                    o.sign * t.outcomes[o.name] for t in trials if o.name in t.outcomes
                ]
                ref.append(min(vals) if vals else 0.0)
        return ref

    def hypervolume_by_round(
        self, trials: Sequence[TrialRecord] | None = None
    ) -> list[dict[str, Any]]:
        """Hypervolume of the experiments known after each suggestion round.

        Round ``r`` counts the complete trials suggested in rounds ``<= r`` plus
        every recorded (imported) one; round 0 is the recorded data alone. Only
        trials that meet every limit add volume.

        Returns:
            One dict per round: ``round``, ``n_complete``, ``n_feasible``,
            ``hypervolume``.
        """
        d = self.definition
        ref = self.reference_point()
        trials = self.trials() if trials is None else trials
        complete = [t for t in trials if t.state == "complete"]

        def round_of(t: TrialRecord) -> int:
            return int(t.attrs.get("round") or 0)

        rounds = {round_of(t) for t in trials if round_of(t) > 0}
        if any(round_of(t) == 0 for t in complete):
            rounds.add(0)
        out = []
        for r in sorted(rounds):
            done = [t for t in complete if round_of(t) <= r]
            ok = [t for t in done if _meets_every_limit(d, t.outcomes)]
            signed = objective_matrix([t.outcomes for t in ok], d.objectives)
            out.append(
                {
                    "round": r,
                    "n_complete": len(done),
                    "n_feasible": len(ok),
                    "hypervolume": hypervolume(signed, ref) if ok else 0.0,
                }
            )
        return out

    def hypervolume(self) -> float:
        """Hypervolume of the measured, limit-meeting experiments above the reference."""
        trials = self._feasible_complete()
        obj = objective_matrix([t.outcomes for t in trials], self.definition.objectives)
        return hypervolume(obj, self.reference_point()) if len(trials) else 0.0


def _meets_every_limit(
    definition: CampaignDefinition, outcomes: Mapping[str, float]
) -> bool:
    """Whether measured outcomes meet every limit (a missing outcome does not)."""
    return all(
        bool(lim.is_met(outcomes.get(lim.name, math.nan))) for lim in definition.limits
    )


def _meets_limits(
    definition: CampaignDefinition, means: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Which estimates meet every limit of the definition (a boolean array)."""
    first = next(iter(means.values()))
    ok = np.ones(len(first), dtype=bool)
    for lim in definition.limits:
        ok &= np.array([lim.is_met(v) for v in means[lim.name]], dtype=bool)
    return ok


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return np.array([0.5 * (1.0 + erf(float(v) / sqrt(2.0))) for v in z])


def _dominated_by(
    definition: CampaignDefinition,
    means: Mapping[str, np.ndarray],
    n: int,
    complete: Sequence[TrialRecord],
) -> list[int | None]:
    """A measured experiment dominating each of the first ``n`` estimates.

    The dominating experiment's estimate meets the limits and is at least as good
    in every objective (the lowest trial number of those); None where none is.
    """
    d = definition
    signed = np.column_stack([o.sign * means[o.name] for o in d.objectives])
    ok = _meets_limits(d, means)
    out: list[int | None] = []
    for i in range(n):
        better = (signed[n:] >= signed[i]).all(axis=1) & (signed[n:] > signed[i]).any(
            axis=1
        )
        hits = np.flatnonzero(better & ok[n:])
        out.append(int(complete[hits[0]].number) if len(hits) else None)
    return out


def _check_operator(operator: Any) -> str:
    if not isinstance(operator, str) or not operator.strip() or len(operator) > 64:
        raise InvalidArgumentError(
            f"Operator must be a name of 1 to 64 characters; got {operator!r}. "
            "Pass --operator NAME."
        )
    return operator.strip()


def _series_attrs(series: Mapping[str, Sequence[float]] | None) -> dict[str, Any]:
    if not series:
        return {}
    out = {}
    for name, values in series.items():
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            raise InvalidMeasurementError(
                f"Series {name!r} must be a list of finite numbers, one per cycle."
            )
        out[name] = [round(float(v), 4) for v in arr]
    return {"series": out}
