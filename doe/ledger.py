"""The ledger: each campaign is an Optuna study in an RDB storage.

This is the only module that touches ``optuna.storages``. It turns Optuna's trials
into plain :class:`TrialRecord` values, so nothing above it sees an Optuna type.

States: a suggestion is a RUNNING trial (``pending``); a measured experiment is
COMPLETE (``complete``); a failed build or test is FAIL with a failure kind
(``failed``); a withdrawn suggestion is FAIL with kind ``abandoned`` (``abandoned``:
not a failure of the cell, so the feasibility model ignores it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doe.definition import CampaignDefinition
from doe.exceptions import (
    CampaignExistsError,
    StorageBusyError,
    StorageError,
    TrialStateError,
    UnknownCampaignError,
    UnknownTrialError,
)

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_STORAGE",
    "FAILURE_KINDS",
    "STATES",
    "Ledger",
    "TrialRecord",
    "list_campaigns",
    "mask_url",
    "resolve_storage",
]

DEFAULT_STORAGE = "sqlite:///doe.db"
FAILURE_KINDS = ("build_failed", "short_circuit", "safety_test_failed", "lost")
ABANDONED = "abandoned"
STATES = ("pending", "complete", "failed", ABANDONED)  # a trial's states, in order
SQLITE_TIMEOUT_S = 30.0
LOCK_TIMEOUT_S = 300.0
_ATTR_DEF = "doe:definition"
_ATTR_ROUND = "doe:round:"
_ATTR_CORRECTIONS = "doe:corrections:"  # + trial number: corrections, oldest first
_ATTR_DEF_CHANGE = "doe:definition_change:"  # + number: one update of the definition
_STATE = {"RUNNING": "pending", "COMPLETE": "complete", "FAIL": "failed"}
_process_locks: dict[str, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def resolve_storage(storage: str | None = None) -> str:
    """The storage URL: the argument, else ``$DOE_STORAGE``, else ``sqlite:///doe.db``."""
    return storage or os.environ.get("DOE_STORAGE") or DEFAULT_STORAGE


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as is, minus credentials
        return url.rsplit("@", maxsplit=1)[-1]


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise StorageError(
            f"Storage {url!r} is in memory; the ledger needs a file or a server, "
            "e.g. sqlite:///doe.db or postgresql://user@host/db."
        )
    return Path(parsed.database)


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@contextlib.contextmanager
def _storage_errors(url: str) -> Iterator[None]:
    """Translate database outages and lock time-outs into :class:`StorageBusyError`."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy import exc as sa_exc

    try:
        yield
    except StorageInternalError as exc:
        cause = exc.__cause__
        if isinstance(cause, sa_exc.OperationalError | sa_exc.InterfaceError) and (
            "no such table" not in str(cause)
        ):
            raise StorageBusyError(
                f"The ledger at {mask_url(url)} is locked or unreachable ({cause}); "
                "nothing was written. Try again in a few seconds."
            ) from exc
        raise UnknownCampaignError(
            f"{mask_url(url)} holds no li2s-doe ledger yet; create a campaign first "
            "with `doe init campaign.toml`."
        ) from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        raise StorageBusyError(
            f"The ledger at {mask_url(url)} is locked or unreachable ({type(exc).__name__}: "
            f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip()}); nothing was written. "
            "Try again in a few seconds."
        ) from exc


def _open(url: str, *, create: bool) -> optuna.storages.RDBStorage:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = _sqlite_path(url)
    if path is not None and not create and not path.is_file():
        raise UnknownCampaignError(
            f"Storage file {str(path)!r} does not exist ({url}). Create a campaign first "
            "with `doe init campaign.toml`, or point --storage / DOE_STORAGE at the ledger."
        )
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
    with _storage_errors(url):
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, skip_table_creation=not create
            )
        except (ImportError, ValueError) as exc:
            raise StorageError(
                f"Cannot open the ledger at {mask_url(url)}: {exc}"
            ) from exc


@dataclass(frozen=True)
class TrialRecord:
    """One trial of the ledger, as plain data.

    Attributes:
        number: The trial number within the campaign (what people type).
        state: ``pending``, ``complete``, ``failed`` or ``abandoned``.
        params: Settings in natural units.
        outcomes: Measured outcomes (empty unless complete).
        attrs: Provenance and bookkeeping (strategy, predictions, operator, ...).
        created_at: When the trial was made (UTC, ISO 8601).
        finished_at: When it was recorded, failed or abandoned.
    """

    number: int
    state: str
    params: dict[str, float]
    outcomes: dict[str, float] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    finished_at: str | None = None

    @property
    def failure_kind(self) -> str | None:
        """Why the trial failed, for failed and abandoned trials."""
        kind = self.attrs.get("failure_kind")
        return str(kind) if kind is not None else None

    @property
    def claimed_by(self) -> str | None:
        """Who holds the claim of a pending trial (None when unclaimed or expired)."""
        who = self.attrs.get("claimed_by")
        until = self.attrs.get("claim_until")
        if who is None or (until is not None and until < _utcnow()):
            return None
        return str(who)


def _record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    attrs = dict(trial.user_attrs)
    state = _STATE.get(trial.state.name, trial.state.name.lower())
    if state == "failed" and attrs.get("failure_kind") == ABANDONED:
        state = ABANDONED
    outcomes = attrs.pop("outcomes", {}) or {}
    return TrialRecord(
        number=trial.number,
        state=state,
        params={k: float(v) for k, v in trial.params.items()},
        outcomes={k: float(v) for k, v in outcomes.items()},
        attrs=attrs,
        created_at=attrs.get("created_at"),
        finished_at=attrs.get("finished_at"),
    )


def _corrected(
    record: TrialRecord, corrections: Sequence[Mapping[str, Any]] | None
) -> TrialRecord:
    """The record with the last correction's outcomes and every correction in attrs."""
    if not corrections:
        return record
    last = corrections[-1]
    return replace(
        record,
        outcomes={k: float(v) for k, v in last["outcomes"].items()},
        attrs={**record.attrs, "corrections": [dict(c) for c in corrections]},
    )


def _process_lock(key: str) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.RLock())


def list_campaigns(storage: str | None = None) -> list[CampaignDefinition]:
    """Definitions of every campaign in the storage, oldest first."""
    url = resolve_storage(storage)
    store = _open(url, create=False)
    with _storage_errors(url):
        studies = store.get_all_studies()
    return [
        CampaignDefinition.from_json(s.user_attrs[_ATTR_DEF])
        for s in studies
        if _ATTR_DEF in s.user_attrs
    ]


class Ledger:
    """One campaign's study: create, load, lock, and the trial operations.

    Create the study once with :meth:`create` (it also creates the schema); every
    other process only loads it with :meth:`load`, which never creates tables.
    """

    def __init__(
        self, url: str, storage: optuna.storages.RDBStorage, study_id: int, name: str
    ) -> None:
        self.url = url
        self._storage = storage
        self._study_id = study_id
        self.name = name
        self._lock_depth = 0

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls, definition: CampaignDefinition, storage: str | None = None
    ) -> Ledger:
        """Create the schema (if needed) and the campaign's study.

        Raises:
            CampaignExistsError: A campaign of that name exists.
            StorageError: The storage cannot be opened.
        """
        import optuna

        url = resolve_storage(storage)
        with cls._global_lock(url):
            store = _open(url, create=True)
            with _storage_errors(url):
                try:
                    store.get_study_id_from_name(definition.name)
                except KeyError:
                    pass
                else:
                    raise CampaignExistsError(
                        f"Campaign {definition.name!r} already exists in {mask_url(url)}; "
                        "load it instead, or choose another name."
                    )
                directions = [
                    optuna.study.StudyDirection.MAXIMIZE
                    if o.direction == "maximize"
                    else optuna.study.StudyDirection.MINIMIZE
                    for o in definition.objectives
                ]
                study_id = store.create_new_study(
                    directions, study_name=definition.name
                )
                store.set_study_user_attr(study_id, _ATTR_DEF, definition.to_json())
                store.set_study_user_attr(
                    study_id, "doe:definition_hash", definition.hash
                )
                store.set_study_user_attr(study_id, "doe:created_at", _utcnow())
        return cls(url, store, study_id, definition.name)

    @classmethod
    def load(cls, name: str | None, storage: str | None = None) -> Ledger:
        """Open an existing campaign; ``name=None`` picks the only one.

        Raises:
            UnknownCampaignError: No such campaign (or no storage file).
            AmbiguousCampaignError: ``name`` is None and several campaigns exist.
        """
        from doe.exceptions import AmbiguousCampaignError
        from doe.space import closest_name

        url = resolve_storage(storage)
        store = _open(url, create=False)
        with _storage_errors(url):
            studies = [s for s in store.get_all_studies() if _ATTR_DEF in s.user_attrs]
        names = [s.study_name for s in studies]
        if name is None:
            if len(names) == 1:
                name = names[0]
            elif not names:
                raise UnknownCampaignError(
                    f"No campaign in {mask_url(url)}; create one with `doe init FILE`."
                )
            else:
                raise AmbiguousCampaignError(
                    f"{mask_url(url)} holds {len(names)} campaigns ({', '.join(names)}); "
                    "name one with --campaign or DOE_CAMPAIGN."
                )
        if name not in names:
            raise UnknownCampaignError(
                f"No campaign {name!r} in {mask_url(url)}.{closest_name(name, names)} "
                f"Campaigns there: {', '.join(names) or 'none'}."
            )
        study = studies[names.index(name)]
        return cls(url, store, study._study_id, name)

    @property
    def definition(self) -> CampaignDefinition:
        """The stored definition."""
        with _storage_errors(self.url):
            attrs = self._storage.get_study_user_attrs(self._study_id)
        return CampaignDefinition.from_json(attrs[_ATTR_DEF])

    def update_definition(
        self, definition: CampaignDefinition, change: Mapping[str, Any] | None = None
    ) -> None:
        """Store a compatible new definition (the caller checks compatibility).

        Args:
            definition: The new definition.
            change: What changed, who, when and why (JSON-able), kept as the
                next ``doe:definition_change:<n>`` (see :meth:`definition_changes`).
        """
        n = len(self.definition_changes()) + 1
        with _storage_errors(self.url):
            self._storage.set_study_user_attr(
                self._study_id, _ATTR_DEF, definition.to_json()
            )
            self._storage.set_study_user_attr(
                self._study_id, "doe:definition_hash", definition.hash
            )
            if change is not None:
                self._storage.set_study_user_attr(
                    self._study_id, f"{_ATTR_DEF_CHANGE}{n}", _jsonable(dict(change))
                )

    def definition_changes(self) -> list[dict[str, Any]]:
        """Every stored update of the definition, oldest first."""
        with _storage_errors(self.url):
            attrs = self._storage.get_study_user_attrs(self._study_id)
        found = {
            int(key[len(_ATTR_DEF_CHANGE) :]): dict(value)
            for key, value in attrs.items()
            if key.startswith(_ATTR_DEF_CHANGE)
            and key[len(_ATTR_DEF_CHANGE) :].isdigit()
        }
        return [found[n] for n in sorted(found)]

    def set_round(self, number: int, info: Mapping[str, Any]) -> None:
        """Store the info of suggestion round ``number`` (JSON-able) with the study.

        Kept as the study user attr ``doe:round:<number>``, so that the MLflow
        mirror can rebuild the round's run at any time (``doe sync``).

        Raises:
            StorageError: ``number`` is not a whole number >= 1.
        """
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise StorageError(
                f"Round number of campaign {self.name!r} must be a whole number >= 1; "
                f"got {number!r}."
            )
        with _storage_errors(self.url):
            self._storage.set_study_user_attr(
                self._study_id, f"{_ATTR_ROUND}{number}", _jsonable(dict(info))
            )

    def rounds(self) -> list[dict[str, Any]]:
        """Every stored round's info, by number, each with its ``round`` number."""
        with _storage_errors(self.url):
            attrs = self._storage.get_study_user_attrs(self._study_id)
        out = [
            {**value, "round": int(key[len(_ATTR_ROUND) :])}
            for key, value in attrs.items()
            if key.startswith(_ATTR_ROUND) and key[len(_ATTR_ROUND) :].isdigit()
        ]
        return sorted(out, key=lambda r: int(r["round"]))

    def study(self, sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
        """The Optuna study over this ledger (for samplers)."""
        import optuna

        return optuna.load_study(
            study_name=self.name, storage=self._storage, sampler=sampler
        )

    # ---------------------------------------------------------------- locks
    @staticmethod
    @contextlib.contextmanager
    def _global_lock(url: str, key: str = "__schema__") -> Iterator[None]:
        path = _sqlite_path(url)
        plock = _process_lock(f"{url}#{key}")
        with plock:
            if path is None:
                yield  # PostgreSQL: creating a study is one transaction
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            with _file_lock(path.with_name(f"{path.name}.{_slug(key)}.lock")):
                yield

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the campaign's write lock (re-entrant within a process).

        SQLite: an exclusive ``flock`` on ``<db>.<campaign>.lock`` beside the file.
        PostgreSQL: a session advisory lock keyed by the campaign name. Every
        operation that reads-then-writes (suggest, pull, record, fail) holds it,
        so concurrent callers never get the same point and nothing is told twice.

        Raises:
            StorageBusyError: The lock was not obtained within 300 s.
        """
        plock = _process_lock(f"{self.url}#{self.name}")
        with plock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            with self._db_lock():
                self._lock_depth = 1
                try:
                    yield
                finally:
                    self._lock_depth = 0

    @contextlib.contextmanager
    def _db_lock(self) -> Iterator[None]:
        path = _sqlite_path(self.url)
        if path is not None:
            with _file_lock(path.with_name(f"{path.name}.{_slug(self.name)}.lock")):
                yield
            return
        from sqlalchemy import text

        key = zlib.crc32(f"doe:{self.name}".encode()) & 0x7FFFFFFF
        with _storage_errors(self.url), self._storage.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()

    # --------------------------------------------------------------- trials
    def trials(self) -> list[TrialRecord]:
        """Every trial, in order of number (corrected outcomes applied)."""
        with _storage_errors(self.url):
            frozen = self._storage.get_all_trials(self._study_id, deepcopy=False)
        fixes = self._corrections()
        return [
            _corrected(_record(t), fixes.get(t.number))
            for t in sorted(frozen, key=lambda t: t.number)
        ]

    def trial(self, number: int) -> TrialRecord:
        """One trial by number (corrected outcomes applied).

        Raises:
            UnknownTrialError: No such trial in this campaign.
        """
        record = _record(self._frozen(number))
        return _corrected(record, self._corrections().get(number))

    def check_correctable(self, record: TrialRecord) -> None:
        """Only a complete trial's outcomes can be corrected.

        Raises:
            TrialStateError: Naming the trial's state and what to do instead.
        """
        if record.state != "complete":
            raise TrialStateError(
                f"Trial {record.number} of campaign {self.name!r} is {record.state}; "
                "only a recorded result can be corrected. Add the experiment again "
                "with `doe import` if it was measured after all."
            )

    def _corrections(self) -> dict[int, list[dict[str, Any]]]:
        """``{trial number: corrections, oldest first}`` from the study's attrs."""
        with _storage_errors(self.url):
            attrs = self._storage.get_study_user_attrs(self._study_id)
        return {
            int(key.removeprefix(_ATTR_CORRECTIONS)): list(value)
            for key, value in attrs.items()
            if key.startswith(_ATTR_CORRECTIONS)
        }

    def correct(
        self, number: int, outcomes: Mapping[str, float], entry: Mapping[str, Any]
    ) -> TrialRecord:
        """Replace a complete trial's outcomes (call under :meth:`lock`).

        Optuna keeps a finished trial as it was; the correction is kept with the
        study (every correction, with the outcomes it replaced) and applied
        whenever trials are read.

        Args:
            number: The trial.
            outcomes: Its checked outcomes, in full.
            entry: Who, when and why (JSON-able).

        Raises:
            TrialStateError: The trial is not complete.
        """
        current = self.trial(number)
        self.check_correctable(current)
        history = [
            *self._corrections().get(number, []),
            {**entry, "outcomes": dict(outcomes), "previous": current.outcomes},
        ]
        with _storage_errors(self.url):
            self._storage.set_study_user_attr(
                self._study_id,
                f"{_ATTR_CORRECTIONS}{number}",
                json.loads(json.dumps(history, default=_json_default)),
            )
        return self.trial(number)

    def _frozen(self, number: int) -> optuna.trial.FrozenTrial:
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise UnknownTrialError(
                f"Trial {number!r} is not a trial number of campaign {self.name!r}; "
                "trial numbers are whole numbers >= 0 (see `doe status`)."
            )
        with _storage_errors(self.url):
            try:
                tid = self._storage.get_trial_id_from_study_id_trial_number(
                    self._study_id, number
                )
            except KeyError:
                tid = None
            if tid is None:
                n = len(self._storage.get_all_trials(self._study_id, deepcopy=False))
                raise UnknownTrialError(
                    f"Campaign {self.name!r} has no trial {number}; its trials are "
                    f"numbered 0 to {n - 1}."
                    if n
                    else f"Campaign {self.name!r} has no trials yet."
                )
            return self._storage.get_trial(tid)

    def add_trial(
        self,
        params: Mapping[str, float],
        *,
        state: str,
        values: Sequence[float] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> int:
        """Add a trial with fixed settings; returns its number.

        Args:
            params: Settings in natural units (already validated).
            state: ``pending`` (a suggestion), ``complete`` (with ``values``) or
                ``failed``.
            values: Objective values in objective order, for ``complete``.
            attrs: User attributes (outcomes, provenance, ...).

        Returns:
            The new trial's number.
        """
        import optuna
        from optuna.trial import TrialState

        definition = self.definition
        dists = _distributions(definition)
        ostate = {
            "pending": TrialState.RUNNING,
            "complete": TrialState.COMPLETE,
            "failed": TrialState.FAIL,
        }[state]
        attrs = {"created_at": _utcnow(), **(attrs or {})}
        if state != "pending":
            attrs.setdefault("finished_at", attrs["created_at"])
        frozen = optuna.trial.create_trial(
            state=ostate,
            values=list(values) if values is not None else None,
            params=dict(params),
            distributions={k: dists[k] for k in params},
            user_attrs=_jsonable(attrs),
        )
        with _storage_errors(self.url):
            tid = self._storage.create_new_trial(self._study_id, template_trial=frozen)
            return int(self._storage.get_trial_number_from_id(tid))

    def set_attrs(self, number: int, attrs: Mapping[str, Any]) -> None:
        """Set user attributes of a trial."""
        tid = self._frozen(number)._trial_id
        with _storage_errors(self.url):
            for key, value in _jsonable(dict(attrs)).items():
                self._storage.set_trial_user_attr(tid, key, value)

    def finish(
        self,
        number: int,
        *,
        state: str,
        values: Sequence[float] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> TrialRecord:
        """Complete or fail a pending trial (call under :meth:`lock`).

        Raises:
            TrialStateError: The trial is not pending.
        """
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        frozen = self._frozen(number)
        if frozen.state != TrialState.RUNNING:
            current = _record(frozen)
            raise TrialStateError(
                f"Trial {number} of campaign {self.name!r} is already {current.state}"
                f"{' (' + str(current.failure_kind) + ')' if current.failure_kind else ''}; "
                "a trial is recorded, failed or abandoned once. Fix a typo in a "
                "recorded result with `doe correct`; add a re-measurement of the same "
                "settings with `doe import`."
            )
        ostate = TrialState.COMPLETE if state == "complete" else TrialState.FAIL
        payload = {"finished_at": _utcnow(), **(attrs or {})}
        with _storage_errors(self.url):
            for key, value in _jsonable(payload).items():
                self._storage.set_trial_user_attr(frozen._trial_id, key, value)
            try:
                self._storage.set_trial_state_values(
                    frozen._trial_id,
                    ostate,
                    list(values) if values is not None else None,
                )
            except UpdateFinishedTrialError as exc:
                raise TrialStateError(
                    f"Trial {number} of campaign {self.name!r} was finished by someone else "
                    "a moment ago; reload and check it."
                ) from exc
        return self.trial(number)


def _distributions(definition: CampaignDefinition) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution

    return {
        p.name: FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        for p in definition.space.parameters
    }


def distributions(definition: CampaignDefinition) -> dict[str, Any]:
    """Optuna distributions of the campaign's parameters (for samplers)."""
    return _distributions(definition)


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so that numpy scalars and tuples store cleanly."""
    return dict(json.loads(json.dumps(attrs, default=_json_default)))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    with path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageBusyError(
                        f"Could not lock {path} within {LOCK_TIMEOUT_S:.0f} s: another "
                        "process holds the campaign; nothing was written. Try again."
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
