"""The MLflow mirror of a campaign; the only module that imports mlflow.

The ledger is the truth; MLflow is a mirror kept level with it. What a campaign
looks like in MLflow:

* **One experiment per campaign**, named after it, with tags ``doe.campaign``,
  ``doe.campaign_id`` (when the campaign was created), ``doe.definition_hash``,
  ``doe.storage`` (the ledger URL, password masked), ``doe.objectives``,
  ``doe.limits``, ``doe.parameters`` and the description as the experiment's note.
  If an experiment of that name belongs to another campaign (say a deleted and
  re-created one), the mirror uses ``<name>-<created stamp>`` instead of mixing them.
  On the embedded store its artifacts live under ``mlflow/artifacts/<experiment>``.
* **One run per trial**, ``trial-<n>``, found again by its tag ``doe.trial`` (never by
  name). Params are the settings, named ``<parameter>__<unit>`` (MLflow allows only
  letters, digits, ``_ - . / : space`` in keys, so ``nitridation_temp_c [C]`` is
  not possible: ``nitridation_temp_c__C``, ``li2s_loading_mg_cm2__mg_per_cm2``,
  ``%`` becomes ``pct``; unitless ``-`` adds nothing). Metrics are the outcomes,
  ``predicted/<outcome>`` and ``predicted_std/<outcome>`` of the model, and
  ``acq_value``; each per-cycle series (``capacity_mah_g``) is a metric history with
  step = cycle (1, 2, ...). Tags: ``doe.state``, ``doe.source``, ``doe.round``,
  ``doe.strategy``, ``doe.reason``, ``doe.fixed`` (knobs the lab held at given
  values, ``name=value, ...``), ``doe.failure_kind``, ``doe.asked_by``,
  ``doe.claimed_by``, ``doe.recorded_by``, ``doe.operator`` (the latest of them),
  ... The run status follows the state: pending RUNNING, complete FINISHED, failed
  FAILED, abandoned KILLED; a pending run is updated in place when its result comes.
* **One run per suggestion round**, ``round-<n>`` (tags ``doe.kind = round``,
  ``doe.round``): strategy and settings as params (``fixed.<parameter>`` for
  knobs held fixed); trial counts, hypervolume so
  far, fit and acquisition seconds and, per outcome, ``loo_r2/``, ``coverage_95/``,
  ``rmse/``, ``noise_std/`` and ``lengthscale/<outcome>/<parameter>`` as metrics;
  artifacts ``suggestions.csv``, ``pareto.png`` and the model state (the saved
  surrogate when the round names one in ``model_path``, else ``model.json``: the
  round info).

Writes compare before they write (params, metrics, tags, status), so a sync is safe
to repeat. The tracking URI: the argument, else ``$MLFLOW_TRACKING_URI``, else the
embedded store ``sqlite:///<repo>/mlflow/mlflow.db``. HTTP retries are bounded
(:data:`HTTP_DEFAULTS`, unless set in the environment), so a dead server costs a
write a few seconds, then the mirror is *behind* and waits
:data:`RETRY_AFTER_S` before it tries again (with a full catch-up).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from typing_extensions import override

from doe.definition import CampaignDefinition
from doe.exceptions import DoeError, TrackingError, TrackingWarning
from doe.objectives import objective_matrix, pareto_mask

__all__ = [
    "DEFAULT_TRACKING_URI",
    "HTTP_DEFAULTS",
    "RETRY_AFTER_S",
    "LedgerAccess",
    "RunPayload",
    "SyncReport",
    "Tracker",
    "TrialLike",
    "default_tracking_uri",
    "param_key",
    "repo_root",
    "resolve_tracking_uri",
    "round_info",
    "round_payload",
    "trial_payload",
]

DEFAULT_TRACKING_URI = "sqlite:///mlflow/mlflow.db"
#: Bounded HTTP retries for a team server (MLflow's defaults retry for minutes and
#: retry POSTs, which can create a second run). Values set by the user win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
#: After a failure, writes skip MLflow for this long, then catch up in full.
RETRY_AFTER_S = 60.0
SYNC_CHUNK = 50  # trials synced per hold of the campaign lock
TAG_KIND = "doe.kind"
TAG_TRIAL = "doe.trial"
TAG_ROUND = "doe.round"
TAG_SERIES = "doe.series_hash"
_MAX_TAG = 5000
_STATUS = {
    "pending": "RUNNING",
    "complete": "FINISHED",
    "failed": "FAILED",
    "abandoned": "KILLED",
}
_UNIT_WORDS = {"%": "pct", "/": "_per_", "°": "deg", "µ": "u", "²": "2", "³": "3"}
_DIAGNOSTICS = ("loo_r2", "coverage_95", "rmse", "noise_std", "prior_weight")
_ROUND_COUNTS = ("n_complete", "n_pending", "n_failed", "n_abandoned")
_ROUND_NUMBERS = ("hypervolume", "fit_seconds", "acq_seconds", "acq_value")


class TrialLike(Protocol):
    """What the mirror reads of a trial (:class:`doe.ledger.TrialRecord`)."""

    @property
    def number(self) -> int: ...  # noqa: D102
    @property
    def state(self) -> str: ...  # noqa: D102
    @property
    def params(self) -> dict[str, float]: ...  # noqa: D102
    @property
    def outcomes(self) -> dict[str, float]: ...  # noqa: D102
    @property
    def attrs(self) -> dict[str, Any]: ...  # noqa: D102
    @property
    def created_at(self) -> str | None: ...  # noqa: D102
    @property
    def finished_at(self) -> str | None: ...  # noqa: D102
    @property
    def failure_kind(self) -> str | None: ...  # noqa: D102


@dataclass(frozen=True)
class LedgerAccess:
    """How the tracker reads the ledger; the Campaign hands these in.

    Attributes:
        trials: Every trial, by number.
        rounds: Every round's info (``Ledger.rounds``).
        definition: The current definition.
        lock: The campaign's write lock (a context manager factory).
        identity: A stamp that tells this campaign from an older one of the same
            name (its creation time).
    """

    trials: Callable[[], Sequence[TrialLike]]
    rounds: Callable[[], Sequence[Mapping[str, Any]]]
    definition: Callable[[], CampaignDefinition]
    lock: Callable[[], AbstractContextManager[Any]]
    identity: Callable[[], str]


@dataclass(frozen=True)
class SyncReport:
    """What a sync (or a write) did to the mirror.

    Attributes:
        status: ``"ok"`` or ``"off"`` (tracking disabled: nothing was done).
        uri: The tracking URI (password masked).
        experiment: The MLflow experiment's name.
        created: Runs created.
        updated: Runs changed (params, metrics, tags, status or artifacts).
        unchanged: Runs already level with the ledger.
        removed: Duplicate runs of one trial or round deleted (a retried POST).
        trials: Trials looked at.
        rounds: Rounds looked at.
    """

    status: str = "ok"
    uri: str = ""
    experiment: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    trials: int = 0
    rounds: int = 0

    @property
    def changed(self) -> int:
        """Runs created, updated or removed."""
        return self.created + self.updated + self.removed

    @override
    def __str__(self) -> str:
        if self.status == "off":
            return "Tracking is off for this campaign; nothing synced."
        return (
            f"MLflow {self.uri}, experiment {self.experiment!r}: {self.trials} trials "
            f"and {self.rounds} rounds; {self.created} runs created, {self.updated} "
            f"updated, {self.unchanged} unchanged, {self.removed} duplicates removed."
        )


@dataclass
class _Tally:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "unchanged", "removed", "trials", "rounds"), 0
        )
    )

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def report(self, uri: str, experiment: str) -> SyncReport:
        c = self.counts
        return SyncReport(
            uri=uri,
            experiment=experiment,
            created=c["created"],
            updated=c["updated"],
            unchanged=c["unchanged"],
            removed=c["removed"],
            trials=c["trials"],
            rounds=c["rounds"],
        )


# ------------------------------------------------------------------ the URI
def repo_root(
    start: Path | None = None, package_dir: Path | None = None
) -> Path | None:
    """The li2s-doe checkout: from ``start`` (default: cwd) upward, else the package's.

    A checkout is a folder holding ``pyproject.toml`` and ``mlflow/README.md``.
    """

    def is_root(path: Path) -> bool:
        return (path / "pyproject.toml").is_file() and (
            path / "mlflow" / "README.md"
        ).is_file()

    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if is_root(cand):
            return cand
    pkg = (package_dir or Path(__file__).resolve().parents[1]).resolve()
    return pkg if is_root(pkg) else None


def default_tracking_uri(
    start: Path | None = None, package_dir: Path | None = None
) -> str:
    """The embedded store: ``sqlite:///<repo root or cwd>/mlflow/mlflow.db``."""
    root = repo_root(start, package_dir) or (start or Path.cwd()).resolve()
    return f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The argument, else ``$MLFLOW_TRACKING_URI``, else :func:`default_tracking_uri`."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _mask_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# -------------------------------------------------------------- the payloads
@dataclass(frozen=True)
class RunPayload:
    """What one MLflow run should hold.

    Attributes:
        name: Run name (``trial-3``, ``round-2``).
        tags: Our tags (``doe.*``), all strings.
        params: Params, all strings.
        metrics: Latest value of each metric.
        series: Metric histories, ``{key: [value at step 1, step 2, ...]}``.
        status: MLflow run status.
        start_ms: Start time (ms since the epoch).
        end_ms: End time, for finished runs.
    """

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    series: dict[str, list[float]] = field(default_factory=dict)
    status: str = "FINISHED"
    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``("trial", "3")`` or ``("round", "2")``: how the run is found again."""
        kind = self.tags[TAG_KIND]
        return kind, self.tags[TAG_TRIAL if kind == "trial" else TAG_ROUND]


def param_key(name: str, unit: str) -> str:
    """An MLflow param key with the unit: ``param_key("temp_c", "C") == "temp_c__C"``.

    Example:
        >>> param_key("li2s_loading_mg_cm2", "mg/cm2")
        'li2s_loading_mg_cm2__mg_per_cm2'
        >>> param_key("np_ratio", "-")
        'np_ratio'
    """
    text = "".join(_UNIT_WORDS.get(c, c) for c in unit.strip())
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_")
    return f"{name}__{text}" if text and text != "-" else name


def _ms(stamp: Any) -> int | None:
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return None


def _tag(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_TAG else text[: _MAX_TAG - 3] + "..."


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    return {k: _tag(v) for k, v in tags.items() if v is not None and v != ""}


def _clean_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {k: _num(v) for k, v in metrics.items()}
    return {k: v for k, v in out.items() if v is not None}


def _series_hash(series: Mapping[str, Sequence[float]]) -> str:
    blob = json.dumps(series, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _fixed_text(fixed: Mapping[str, Any] | None) -> str | None:
    """``name=value, ...`` of the knobs held fixed, or None."""
    if not fixed:
        return None
    return ", ".join(f"{k}={v:g}" for k, v in fixed.items())


def _trial_tags(record: TrialLike, campaign: str) -> dict[str, Any]:
    attrs = record.attrs
    prov = attrs.get("provenance") or {}
    operator = (
        attrs.get("recorded_by") or attrs.get("claimed_by") or attrs.get("asked_by")
    )
    fixes = attrs.get("corrections") or []
    last_fix = fixes[-1] if fixes else {}
    return {
        TAG_KIND: "trial",
        TAG_TRIAL: record.number,
        "doe.campaign": campaign,
        "doe.state": record.state,
        "doe.source": attrs.get("source"),
        "doe.round": attrs.get("round"),
        "doe.strategy": prov.get("strategy"),
        "doe.reason": prov.get("reason"),
        "doe.fixed": _fixed_text(prov.get("fixed")),
        "doe.shared": ",".join(prov.get("shared") or []) or None,
        "doe.model_version": prov.get("model_version"),
        "doe.data_hash": prov.get("data_hash"),
        "doe.seed": prov.get("seed"),
        "doe.warnings": "; ".join(map(str, prov.get("warnings") or [])),
        "doe.failure_kind": record.failure_kind,
        "doe.failure_note": attrs.get("failure_note"),
        "doe.note": attrs.get("note"),
        "doe.asked_by": attrs.get("asked_by"),
        "doe.claimed_by": attrs.get("claimed_by"),
        "doe.claim_until": attrs.get("claim_until"),
        "doe.recorded_by": attrs.get("recorded_by"),
        "doe.operator": operator,
        "doe.corrections": len(fixes) or None,
        "doe.corrected_by": last_fix.get("by"),
        "doe.corrected_at": last_fix.get("at"),
        "doe.correction_note": last_fix.get("note"),
    }


def trial_payload(
    record: TrialLike, definition: CampaignDefinition, *, campaign: str
) -> RunPayload:
    """The run of one trial (see the module docstring)."""
    prov = record.attrs.get("provenance") or {}
    tags = _trial_tags(record, campaign)
    metrics: dict[str, Any] = dict(record.outcomes)
    for name, pred in (prov.get("predicted") or {}).items():
        metrics[f"predicted/{name}"], metrics[f"predicted_std/{name}"] = pred[:2]
    metrics["acq_value"] = prov.get("acq_value")
    series = {
        (f"series/{k}" if k in metrics else k): [float(v) for v in values]
        for k, values in (record.attrs.get("series") or {}).items()
    }
    if series:
        tags[TAG_SERIES] = _series_hash(series)
    units = {p.name: p.unit for p in definition.space.parameters}
    return RunPayload(
        name=f"trial-{record.number}",
        tags=_clean_tags(tags),
        params={
            param_key(k, units.get(k, "-")): repr(float(v))
            for k, v in record.params.items()
        },
        metrics=_clean_metrics(metrics),
        series=series,
        status=_STATUS.get(record.state, "FAILED"),
        start_ms=_ms(record.created_at),
        end_ms=_ms(record.finished_at) if record.state != "pending" else None,
    )


def _strategy_settings(strategy: Any) -> dict[str, Any]:
    settings = getattr(strategy, "settings", None)
    out = (
        asdict(settings)
        if is_dataclass(settings) and not isinstance(settings, type)
        else {}
    )
    return {
        k: "off" if v is None else v  # a setting switched off, as in the [gp] table
        for k, v in out.items()
        if v is None or isinstance(v, str | int | float | bool)
    }


def round_info(
    strategy: Any,
    infos: Sequence[Mapping[str, Any]],
    trials: Sequence[int],
    *,
    operator: str,
    asked_at: str,
    states: Sequence[str],
    hypervolume: float,
) -> dict[str, Any]:
    """The JSON-able record of one suggestion round, stored in the ledger.

    Args:
        strategy: The strategy object (its ``name``, ``seed`` and ``settings``).
        infos: Each proposal's ``info`` (provenance).
        trials: The new trials' numbers.
        operator: Who asked.
        asked_at: When (UTC, ISO 8601).
        states: The state of every trial after the round (pending ones included).
        hypervolume: The campaign's hypervolume when the round was made.

    Returns:
        The round info (``Ledger.set_round`` adds nothing; sync reads it back).
    """
    model = next((i for i in infos if "fit_seconds" in i), infos[0] if infos else {})
    reasons = sorted({str(i.get("reason", "")) for i in infos} - {""})
    info: dict[str, Any] = {
        "strategy": str(model.get("strategy") or getattr(strategy, "name", "")),
        "settings": _strategy_settings(strategy),
        "seed": model.get("seed", getattr(strategy, "seed", None)),
        "trials": list(trials),
        "asked_by": operator,
        "asked_at": asked_at,
        "reason": str(model.get("reason", reasons[0] if reasons else "")),
        "reasons": reasons,
        "hypervolume": float(hypervolume),
        "warnings": sorted({str(w) for i in infos for w in i.get("warnings") or []}),
    }
    for state in ("complete", "pending", "failed", "abandoned"):
        info[f"n_{state}"] = sum(s == state for s in states)
    for key in ("model_version", "data_hash", "fit_seconds", "acq_seconds",
                "acq_value", "diagnostics", "model_path", "shared"):  # fmt: skip
        if model.get(key) is not None:
            info[key] = model[key]
    held = [dict(i.get("fixed") or {}) for i in infos]
    common = {  # what the asker held for the whole round (not a shared batch's values)
        k: v
        for k, v in (held[0] if held else {}).items()
        if all(h.get(k) == v for h in held)
    }
    if common:
        info["fixed"] = common
    return info


def _diagnostic_metrics(
    diagnostics: Mapping[str, Any], names: Sequence[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for outcome, diag in (diagnostics or {}).items():
        if not isinstance(diag, Mapping):
            continue
        for key in _DIAGNOSTICS:
            out[f"{key}/{outcome}"] = diag.get(key)
        scales = np.ravel(np.asarray(diag.get("lengthscales") or [], dtype=float))
        labels = names if len(scales) == len(names) else range(len(scales))
        for label, value in zip(labels, scales, strict=True):
            out[f"lengthscale/{outcome}/{label}"] = value
    return out


def round_payload(
    info: Mapping[str, Any], definition: CampaignDefinition, *, campaign: str
) -> RunPayload:
    """The run of one suggestion round (see the module docstring)."""
    number = int(info["round"])
    tags = {
        TAG_KIND: "round",
        TAG_ROUND: number,
        "doe.campaign": campaign,
        "doe.strategy": info.get("strategy"),
        "doe.reason": info.get("reason"),
        "doe.fixed": _fixed_text(info.get("fixed")),
        "doe.model_version": info.get("model_version"),
        "doe.data_hash": info.get("data_hash"),
        "doe.asked_by": info.get("asked_by"),
        "doe.operator": info.get("asked_by"),
        "doe.trials": ",".join(map(str, info.get("trials") or [])),
        "doe.warnings": "; ".join(info.get("warnings") or []),
    }
    params = {
        "strategy": info.get("strategy"),
        "batch_size": len(info.get("trials") or []),
        "seed": info.get("seed"),
        **{f"strategy.{k}": v for k, v in (info.get("settings") or {}).items()},
        **{f"fixed.{k}": v for k, v in (info.get("fixed") or {}).items()},
        "shared": ",".join(info.get("shared") or []) or None,
    }
    metrics = {k: info.get(k) for k in (*_ROUND_COUNTS, *_ROUND_NUMBERS)}
    metrics.update(
        _diagnostic_metrics(info.get("diagnostics") or {}, definition.space.names)
    )
    end = _ms(info.get("asked_at"))
    busy = sum(_num(info.get(k)) or 0.0 for k in ("fit_seconds", "acq_seconds"))
    return RunPayload(
        name=f"round-{number}",
        tags=_clean_tags(tags),
        params={k: _tag(v) for k, v in params.items() if v is not None},
        metrics=_clean_metrics(metrics),
        status="FINISHED",
        start_ms=None if end is None else end - round(busy * 1000),
        end_ms=end,
    )


# ----------------------------------------------------------- round artifacts
def _model_file(info: Mapping[str, Any]) -> Path | None:
    path = info.get("model_path")
    return Path(path) if path and Path(path).is_file() else None


def _artifact_names(info: Mapping[str, Any]) -> set[str]:
    model = _model_file(info)
    return {"suggestions.csv", "pareto.png", model.name if model else "model.json"}


def _write_suggestions_csv(
    path: Path,
    info: Mapping[str, Any],
    trials: Mapping[int, TrialLike],
    d: CampaignDefinition,
) -> None:
    outcomes = d.outcome_names
    head = ["trial", "round", *d.space.names]
    head += [f"pred_{o}{s}" for o in outcomes for s in ("", "_std")]
    head += ["strategy", "reason", "acq_value"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(head)
        for number in info.get("trials") or []:
            t = trials.get(int(number))
            if t is None:
                continue
            prov = t.attrs.get("provenance") or {}
            pred = prov.get("predicted") or {}
            row: list[Any] = [
                t.number,
                info["round"],
                *(t.params.get(p) for p in d.space.names),
            ]
            row += [(pred.get(o) or ["", ""])[k] for o in outcomes for k in (0, 1)]
            row += [prov.get("strategy"), prov.get("reason"), prov.get("acq_value")]
            writer.writerow(row)


def _measured_before(trials: Mapping[int, TrialLike], stamp: str) -> list[TrialLike]:
    return [
        t
        for t in trials.values()
        if t.state == "complete" and (t.finished_at or "") <= stamp
    ]


@dataclass(frozen=True)
class _ParetoData:
    """What the round's Pareto plot shows."""

    numbers: np.ndarray  # `n` trial numbers of the measured experiments
    values: np.ndarray  # `n x m` objective values in natural units
    feasible: np.ndarray  # `n` bools: meets every limit
    front: np.ndarray  # `n` bools: feasible and not dominated
    new: list[tuple[int, dict[str, list[float]]]]  # (trial, {outcome: [mean, sd]})


def _pareto_data(
    info: Mapping[str, Any], trials: Mapping[int, TrialLike], d: CampaignDefinition
) -> _ParetoData:
    measured = _measured_before(trials, str(info.get("asked_at") or "~"))
    objs = list(d.objectives)
    values = np.array(
        [[t.outcomes.get(o.name, np.nan) for o in objs] for t in measured], dtype=float
    ).reshape(len(measured), len(objs))
    feasible = np.array(
        [all(lim.is_met(t.outcomes.get(lim.name, np.nan)) for lim in d.limits) for t in measured],
        dtype=bool,
    )  # fmt: skip
    signed = objective_matrix([t.outcomes for t in measured], objs)
    ok = feasible & np.all(np.isfinite(signed), axis=1)
    front = np.zeros(len(measured), dtype=bool)
    if ok.any():
        front[np.flatnonzero(ok)] = pareto_mask(signed[ok])
    new = [
        (t.number, (t.attrs.get("provenance") or {}).get("predicted") or {})
        for t in (trials.get(int(n)) for n in info.get("trials") or [])
        if t is not None
    ]
    numbers = np.array([t.number for t in measured], dtype=float)
    return _ParetoData(numbers, values, feasible, front, new)


def _draw_pair(ax: Any, data: _ParetoData, objs: Sequence[Any], i: int, j: int) -> None:
    """Objective ``j`` against objective ``i`` (against the trial number if ``i < 0``)."""
    xs = data.values[:, i] if i >= 0 else data.numbers
    ys = data.values[:, j]
    dominated = data.feasible & ~data.front
    ax.scatter(
        xs[dominated], ys[dominated], c="C0", alpha=0.25, s=24, label="dominated"
    )
    ax.scatter(
        xs[data.front],
        ys[data.front],
        c="C0",
        edgecolors="k",
        s=40,
        label="Pareto front",
    )
    ax.scatter(
        xs[~data.feasible],
        ys[~data.feasible],
        c="0.5",
        marker="x",
        alpha=0.5,
        s=24,
        label="misses a limit",
    )
    nan = [np.nan, np.nan]
    px = [p.get(objs[i].name, nan) if i >= 0 else [n, 0.0] for n, p in data.new]
    py = [p.get(objs[j].name, nan) for _, p in data.new]
    if any(np.isfinite(v[0]) for v in py):
        ax.errorbar(
            [v[0] for v in px],
            [v[0] for v in py],
            xerr=[v[1] for v in px] if i >= 0 else None,
            yerr=[v[1] for v in py],
            fmt="*",
            color="C3",
            ms=12,
            capsize=2,
            label="new (predicted ± sd)",
        )
    ax.set_xlabel(_axis_label(objs[i]) if i >= 0 else "trial")
    ax.set_ylabel(_axis_label(objs[j]))
    ax.grid(alpha=0.3)


def _write_pareto_png(
    path: Path,
    info: Mapping[str, Any],
    trials: Mapping[int, TrialLike],
    d: CampaignDefinition,
    *,
    campaign: str,
) -> None:
    """Pairwise objective scatter: front solid, dominated faded, suggestions starred."""
    from matplotlib.figure import Figure

    data = _pareto_data(info, trials, d)
    objs = list(d.objectives)
    pairs = list(combinations(range(len(objs)), 2)) or [(-1, 0)]
    ncols = min(3, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    width, height = 4.6 * ncols, 3.6 * nrows + 1.0
    fig = Figure(figsize=(width, height))  # fixed margins: a layout engine is slow
    fig.subplots_adjust(
        left=0.75 / width, right=1 - 0.2 / width, bottom=0.55 / height,
        top=1 - 1.05 / height, wspace=0.35, hspace=0.4,
    )  # fmt: skip
    for k, (i, j) in enumerate(pairs):
        _draw_pair(fig.add_subplot(nrows, ncols, k + 1), data, objs, i, j)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="upper center", ncols=2 if ncols == 1 else 4, fontsize=8,
            frameon=False, bbox_to_anchor=(0.5, 1 - 0.35 / height),
        )  # fmt: skip
    fig.suptitle(
        f"{campaign}, round {info['round']}: {len(data.numbers)} measured, "
        f"hypervolume {float(info.get('hypervolume') or 0.0):.4g}",
        y=1 - 0.08 / height,
        va="top",
    )
    fig.savefig(path, dpi=90)


def _axis_label(objective: Any) -> str:
    arrow = "↑" if objective.direction == "maximize" else "↓"
    return f"{objective.name} [{objective.unit}] {arrow}"


def _write_round_files(
    folder: Path,
    info: Mapping[str, Any],
    trials: Mapping[int, TrialLike],
    d: CampaignDefinition,
    *,
    campaign: str,
) -> None:
    _write_suggestions_csv(folder / "suggestions.csv", info, trials, d)
    _write_pareto_png(folder / "pareto.png", info, trials, d, campaign=campaign)
    model = _model_file(info)
    if model is not None:
        shutil.copy2(model, folder / model.name)
    else:
        text = json.dumps(dict(info), indent=2, sort_keys=True, default=str)
        (folder / "model.json").write_text(text, encoding="utf-8")


# --------------------------------------------------------------- the tracker
def _experiment_tags(
    d: CampaignDefinition, *, campaign_id: str, storage: str
) -> dict[str, str]:
    objectives = "; ".join(
        f"{o.name} [{o.unit}] {o.direction}"
        + (f", threshold {o.threshold:g}" if o.threshold is not None else "")
        + (f", noise sd {o.noise_sd:g}" if o.noise_sd is not None else "")
        for o in d.objectives
    )
    parameters = "; ".join(
        f"{p.name} [{p.unit}] {p.low:g}..{p.high:g}{' log' if p.log else ''}"
        for p in d.space.parameters
    )
    return _clean_tags(
        {
            "doe.campaign": d.name,
            "doe.campaign_id": campaign_id,
            "doe.definition_hash": d.hash,
            "doe.storage": storage,
            "doe.objectives": objectives,
            "doe.limits": "; ".join(map(str, d.limits)) or "none",
            "doe.parameters": parameters,
            "mlflow.note.content": d.description,
        }
    )


_UNREACHABLE = (
    "Connection refused",
    "timed out",
    "Name or service not known",
    "Temporary failure in name resolution",
    "No route to host",
    "Connection reset",
)


def _reason(exc: BaseException) -> str:
    """One short line: the error's class and its gist (MLflow's are pages long)."""
    text = " ".join(str(exc).split())
    for hint in _UNREACHABLE:
        if hint in text:
            return f"{type(exc).__name__}: the tracking server is unreachable ({hint})"
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Tracker:
    """Mirrors one campaign into MLflow (see the module docstring).

    The Campaign makes one lazily and calls :meth:`update` after each write and
    :meth:`sync` for ``doe sync``. ``update`` never raises: a failure marks the
    mirror *behind*, warns with :class:`~doe.exceptions.TrackingWarning`, and later
    writes skip MLflow for :data:`RETRY_AFTER_S` seconds, then catch up in full.

    Args:
        campaign: The campaign's name (the experiment's name).
        uri: Tracking URI (default: :func:`resolve_tracking_uri`).
        storage: The ledger URL with its password masked (an experiment tag).
        ledger: How to read the ledger.
    """

    def __init__(
        self, campaign: str, *, uri: str | None, storage: str, ledger: LedgerAccess
    ) -> None:
        self.campaign = campaign
        self.uri = resolve_tracking_uri(uri)
        self.storage = storage
        self._ledger = ledger
        self._client: Any = None
        self._experiment: tuple[str, str] | None = None  # (id, name)
        self._behind: str | None = None
        self._retry_at = 0.0

    # ---------------------------------------------------------------- state
    @property
    def status(self) -> str:
        """``"ok"`` (every write through this tracker reached MLflow) or ``"behind: ..."``."""
        return "ok" if self._behind is None else f"behind: {self._behind}"

    @property
    def experiment_name(self) -> str | None:
        """The experiment's name, once it is known."""
        return self._experiment[1] if self._experiment else None

    def _mark_behind(self, exc: BaseException) -> str:
        self._behind = _reason(exc)
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        return self._behind

    # --------------------------------------------------------------- writes
    def update(
        self,
        numbers: Sequence[int] = (),
        *,
        round_no: int | None = None,
        definition_changed: bool = False,
    ) -> None:
        """Mirror the given trials (and round) after a write; never raises.

        Call it after the write's lock is released: mlflow (and matplotlib for a
        round) load first, then the trials are read again and mirrored under the
        campaign lock, so mirror writes follow the ledger's order and a stale state
        never overwrites a newer one. While the mirror is behind, this skips MLflow
        until :data:`RETRY_AFTER_S` has passed, then runs a full :meth:`sync`.
        ``definition_changed``: the experiment's tags are brought level with the
        stored definition.
        """
        if self._behind is not None and time.monotonic() < self._retry_at:
            return
        try:
            # imports mlflow, makes the client: not under the lock
            self._experiment_id(refresh=definition_changed)
            if round_no is not None:
                import matplotlib.figure  # noqa: F401  # same reason
            with self._ledger.lock():
                if self._behind is not None:
                    self._sync()
                else:
                    self._log(list(dict.fromkeys(numbers)), round_no)
        except Exception as exc:  # tracking must never fail a lab write
            reason = self._mark_behind(exc)
            warnings.warn(
                f"MLflow tracking of campaign {self.campaign!r} at {_mask_uri(self.uri)} "
                f"is behind ({reason}). The ledger has every result; run `doe sync` "
                "(Campaign.sync_tracking()) once MLflow is reachable.",
                TrackingWarning,
                stacklevel=4,
            )

    def sync(self) -> SyncReport:
        """Bring MLflow level with the ledger: one run per trial and per round.

        Safe to repeat: runs are matched by tag and only differences are written;
        duplicate runs of one trial (from a retried POST) are deleted.

        Raises:
            TrackingError: MLflow is unreachable or refused a write.
        """
        try:
            return self._sync()
        except DoeError as exc:
            if isinstance(exc, TrackingError):
                self._mark_behind(exc)
            raise
        except Exception as exc:
            reason = self._mark_behind(exc)
            raise TrackingError(
                f"Could not sync campaign {self.campaign!r} to MLflow at "
                f"{_mask_uri(self.uri)}: {reason}. The ledger is unaffected; run "
                "`doe sync` again when the tracking server is reachable."
            ) from exc

    def _log(self, numbers: list[int], round_no: int | None) -> None:
        exp_id = self._experiment_id()
        if not numbers and round_no is None:
            return
        d = self._ledger.definition()
        trials = {t.number: t for t in self._ledger.trials()}
        payloads = [
            trial_payload(trials[n], d, campaign=self.campaign)
            for n in numbers
            if n in trials
        ]
        info = None
        if round_no is not None:
            info = next(
                (r for r in self._ledger.rounds() if int(r["round"]) == round_no), None
            )
            if info is not None:
                payloads.append(round_payload(info, d, campaign=self.campaign))
        existing = self._lookup(exp_id, payloads)
        for payload in payloads:
            run_id, _ = self._apply(exp_id, payload, existing.get(payload.key))
            if info is not None and payload.tags[TAG_KIND] == "round":
                self._ensure_artifacts(
                    run_id, info, trials, d, fresh=payload.key not in existing
                )

    def _sync(self) -> SyncReport:
        tally = _Tally()
        exp_id = self._experiment_id(refresh=True)
        index = self._dedupe(self._search(exp_id, ""), tally)
        numbers = [t.number for t in self._ledger.trials()]
        for chunk in _chunks(numbers, SYNC_CHUNK):
            with self._ledger.lock():  # a write cannot slip between read and mirror
                d = self._ledger.definition()
                trials = {t.number: t for t in self._ledger.trials()}
                for n in chunk:
                    payload = trial_payload(trials[n], d, campaign=self.campaign)
                    tally.add(self._apply(exp_id, payload, index.get(payload.key))[1])
                    tally.add("trials")
        d = self._ledger.definition()
        trials = {t.number: t for t in self._ledger.trials()}
        for info in self._ledger.rounds():
            payload = round_payload(info, d, campaign=self.campaign)
            run = index.get(payload.key)
            run_id, what = self._apply(exp_id, payload, run)
            if self._ensure_artifacts(run_id, info, trials, d, fresh=run is None):
                what = "updated" if what == "unchanged" else what
            tally.add(what)
            tally.add("rounds")
        self._behind = None
        return tally.report(_mask_uri(self.uri), self.experiment_name or "")

    # --------------------------------------------------------------- mlflow
    def _mlflow(self) -> Any:
        if self._client is None:
            for key, value in HTTP_DEFAULTS.items():
                os.environ.setdefault(key, value)
            path = _sqlite_file(self.uri)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _artifact_location(self, name: str) -> str | None:
        path = _sqlite_file(self.uri)
        if path is None:
            return None  # a server decides (--default-artifact-root)
        return (path.parent / "artifacts" / name).resolve().as_uri()

    def _experiment_id(self, *, refresh: bool = False) -> str:
        if self._experiment is not None and not refresh:
            return self._experiment[0]
        client = self._mlflow()
        d = self._ledger.definition()
        ident = self._ledger.identity() or f"{self.storage}#{self.campaign}"
        tags = _experiment_tags(d, campaign_id=ident, storage=self.storage)
        name = self.campaign
        exp = client.get_experiment_by_name(name)
        if exp is not None and exp.tags.get("doe.campaign_id") not in (None, ident):
            stamp = (
                re.sub(r"\D", "", ident)[:14]
                or hashlib.sha256(ident.encode()).hexdigest()[:8]
            )
            name = f"{self.campaign}-{stamp}"
            exp = client.get_experiment_by_name(name)
        if exp is None:
            exp_id = self._create_experiment(name, tags)
        elif exp.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow experiment {name!r} at {_mask_uri(self.uri)} is deleted; restore "
                "it (`mlflow experiments restore`) or remove it for good (`mlflow gc`) "
                "so that the campaign can be mirrored."
            )
        else:
            exp_id = exp.experiment_id
            for key, value in tags.items():
                if exp.tags.get(key) != value:
                    client.set_experiment_tag(exp_id, key, value)
        self._experiment = (exp_id, name)
        return str(exp_id)

    def _create_experiment(self, name: str, tags: Mapping[str, str]) -> str:
        from mlflow.exceptions import MlflowException

        client = self._mlflow()
        try:
            return str(
                client.create_experiment(
                    name,
                    artifact_location=self._artifact_location(name),
                    tags=dict(tags),
                )
            )
        except MlflowException:  # another process made it a moment ago
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _search(self, exp_id: str, filter_string: str) -> list[Any]:
        client, runs, token = self._mlflow(), [], None
        while True:
            page = client.search_runs(
                [exp_id],
                filter_string=filter_string,
                max_results=1000,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _lookup(
        self, exp_id: str, payloads: Sequence[RunPayload]
    ) -> dict[tuple[str, str], Any]:
        """Existing runs of the payloads, with one search."""
        if not payloads:
            return {}
        if len(payloads) == 1:
            kind, value = payloads[0].key
            tag = TAG_TRIAL if kind == "trial" else TAG_ROUND
            query = f"tags.`{TAG_KIND}` = '{kind}' AND tags.`{tag}` = '{value}'"
        elif all(p.start_ms is not None for p in payloads):
            # Runs start at their trial's (round's) creation time, set by us.
            query = f"attributes.start_time >= {min(p.start_ms or 0 for p in payloads)}"
        else:
            query = ""
        wanted = {p.key for p in payloads}
        found: dict[tuple[str, str], Any] = {}
        for run in self._search(exp_id, query):
            key = _run_key(run)
            if key in wanted:
                found.setdefault(key, run)
        return found

    def _dedupe(self, runs: Sequence[Any], tally: _Tally) -> dict[tuple[str, str], Any]:
        index: dict[tuple[str, str], Any] = {}
        for run in runs:  # oldest first: keep the first, delete later copies
            key = _run_key(run)
            if key is None:
                continue
            if key in index:
                self._mlflow().delete_run(run.info.run_id)
                tally.add("removed")
            else:
                index[key] = run
        return index

    def _apply(self, exp_id: str, payload: RunPayload, run: Any) -> tuple[str, str]:
        """Create or update one run; returns its id and created/updated/unchanged."""
        if run is None:
            return self._create_run(exp_id, payload), "created"
        from mlflow.entities import Metric, Param, RunTag

        client, data, run_id = self._mlflow(), run.data, run.info.run_id
        # A changed value is logged now: MLflow shows a metric's latest value
        # (by step, then time, then the larger value), so a corrected result
        # logged at the first one's time could lose to it.
        ts = max(payload.end_ms or payload.start_ms or 0, int(time.time() * 1000))
        tags = [
            RunTag(k, v)
            for k, v in payload.tags.items()
            if data.tags.get(k) != v and k != TAG_SERIES
        ]
        stale = [k for k in data.tags if k.startswith("doe.") and k not in payload.tags]
        params = [
            Param(k, v) for k, v in payload.params.items() if k not in data.params
        ]
        metrics = [
            Metric(k, v, ts, 0)
            for k, v in payload.metrics.items()
            if data.metrics.get(k) != v
        ]
        if payload.series and data.tags.get(TAG_SERIES) != payload.tags.get(TAG_SERIES):
            metrics += _series_metrics(payload.series, ts)
            tags.append(RunTag(TAG_SERIES, payload.tags[TAG_SERIES]))
        self._log_batch(run_id, metrics, params, tags)
        for key in stale:
            client.delete_tag(run_id, key)
        status_changed = run.info.status != payload.status or (
            payload.status != "RUNNING" and run.info.end_time != payload.end_ms
        )
        if status_changed:
            self._set_status(run_id, payload)
        changed = bool(tags or stale or params or metrics or status_changed)
        return run_id, "updated" if changed else "unchanged"

    def _create_run(self, exp_id: str, payload: RunPayload) -> str:
        from mlflow.entities import Metric, Param, RunTag

        ts = payload.end_ms or payload.start_ms or int(time.time() * 1000)
        tags = {k: v for k, v in payload.tags.items() if k != TAG_SERIES}
        run = self._mlflow().create_run(
            exp_id, start_time=payload.start_ms, tags=tags, run_name=payload.name
        )
        run_id = str(run.info.run_id)
        metrics = [Metric(k, v, ts, 0) for k, v in payload.metrics.items()]
        metrics += _series_metrics(payload.series, ts)
        series_tag = (
            [RunTag(TAG_SERIES, payload.tags[TAG_SERIES])] if payload.series else []
        )
        params = [Param(k, v) for k, v in payload.params.items()]
        self._log_batch(run_id, metrics, params, series_tag)
        if payload.status != "RUNNING":
            self._set_status(run_id, payload)
        return run_id

    def _set_status(self, run_id: str, payload: RunPayload) -> None:
        client = self._mlflow()
        if payload.status == "RUNNING":
            client.update_run(run_id, status="RUNNING")
        else:
            client.set_terminated(
                run_id, status=payload.status, end_time=payload.end_ms
            )

    def _log_batch(
        self, run_id: str, metrics: list[Any], params: list[Any], tags: list[Any]
    ) -> None:
        """``log_batch`` within MLflow's limits (1000 entities, 100 params or tags).

        The series hash tag goes with the last chunk, so that a broken series is
        logged again by the next sync.
        """
        client = self._mlflow()
        last = [t for t in tags if t.key == TAG_SERIES]
        tags = [t for t in tags if t.key != TAG_SERIES]
        while metrics or params or tags or last:
            final = len(metrics) <= 800 and len(params) <= 100 and len(tags) <= 99
            client.log_batch(
                run_id,
                metrics=metrics[:800],
                params=params[:100],
                tags=tags[:99] + (last if final else []),
            )
            metrics, params, tags = metrics[800:], params[100:], tags[99:]
            last = [] if final else last

    def _ensure_artifacts(
        self,
        run_id: str,
        info: Mapping[str, Any],
        trials: Mapping[int, TrialLike],
        d: CampaignDefinition,
        *,
        fresh: bool,
    ) -> bool:
        """Log the round's artifacts if any is missing; returns whether it logged."""
        client = self._mlflow()
        if not fresh:
            have = {Path(f.path).name for f in client.list_artifacts(run_id)}
            if _artifact_names(info) <= have:
                return False
        with tempfile.TemporaryDirectory(prefix="doe-round-") as tmp:
            _write_round_files(Path(tmp), info, trials, d, campaign=self.campaign)
            client.log_artifacts(run_id, tmp)
        return True


def _series_metrics(series: Mapping[str, Sequence[float]], ts: int) -> list[Any]:
    from mlflow.entities import Metric

    return [
        Metric(key, float(v), ts, step)
        for key, values in series.items()
        for step, v in enumerate(values, start=1)
    ]


def _run_key(run: Any) -> tuple[str, str] | None:
    tags = run.data.tags
    kind = tags.get(TAG_KIND)
    value = tags.get(TAG_TRIAL if kind == "trial" else TAG_ROUND)
    return (kind, value) if kind in ("trial", "round") and value is not None else None


# --------------------------------------------------------------- replay sweeps
# A replay sweep (doe.replay) is logged once it has finished: one parent run per
# sweep in the experiment ``replay-<campaign>``, one nested child run per strategy
# and seed (tag ``mlflow.parentRunId``).
__all__ += ["ReplayLog", "ReplayRunLog", "log_replay_sweep"]

TAG_PARENT = "mlflow.parentRunId"


@dataclass(frozen=True)
class ReplayRunLog:
    """What one run of a replay sweep holds.

    Attributes:
        name: Run name, e.g. ``gp-seed3``.
        params: Params (strings).
        tags: Tags (strings), besides ``doe.kind``.
        metrics: Final metrics (non-finite values are left out).
        series: Metric histories, ``{key: [(step, value), ...]}``.
    """

    name: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayLog:
    """Where a replay sweep was logged.

    Attributes:
        uri: The tracking URI (password masked).
        experiment: The experiment's name.
        experiment_id: Its id.
        run_id: The parent run's id.
        children: Child run ids, in the order given.
    """

    uri: str
    experiment: str
    experiment_id: str
    run_id: str
    children: tuple[str, ...]


def _replay_client(uri: str) -> Any:
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    path = _sqlite_file(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _replay_experiment(client: Any, uri: str, name: str) -> str:
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow experiment {name!r} at {_mask_uri(uri)} is deleted; restore it "
                "(`mlflow experiments restore`) or remove it for good (`mlflow gc`)."
            )
        return str(exp.experiment_id)
    path = _sqlite_file(uri)
    location = (
        None if path is None else (path.parent / "artifacts" / name).resolve().as_uri()
    )
    try:
        return str(
            client.create_experiment(
                name, artifact_location=location, tags={TAG_KIND: "replay"}
            )
        )
    except MlflowException:  # made by another process a moment ago
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


def _replay_run(
    client: Any, exp_id: str, run: ReplayRunLog, kind: str, parent: str | None
) -> str:
    from mlflow.entities import Metric, Param

    tags = {TAG_KIND: kind, **run.tags}
    if parent is not None:
        tags[TAG_PARENT] = parent
    created = client.create_run(exp_id, tags=tags, run_name=run.name)
    run_id = str(created.info.run_id)
    ts = int(time.time() * 1000)
    metrics = [Metric(k, v, ts, 0) for k, v in _clean_metrics(run.metrics).items()]
    metrics += [
        Metric(key, float(v), ts, int(step))
        for key, points in run.series.items()
        for step, v in points
        if math.isfinite(float(v))
    ]
    params = [Param(k, _tag(v)) for k, v in run.params.items()]
    while metrics or params:
        client.log_batch(run_id, metrics=metrics[:800], params=params[:100])
        metrics, params = metrics[800:], params[100:]
    return run_id


def log_replay_sweep(
    experiment: str,
    sweep: ReplayRunLog,
    children: Sequence[ReplayRunLog],
    *,
    artifacts: Sequence[Path] = (),
    uri: str | None = None,
) -> ReplayLog:
    """Log a finished replay sweep: a parent run and one nested run per replay.

    Args:
        experiment: The experiment's name (``replay-<campaign>``).
        sweep: The parent run (params: simulator, budget, batch, ...).
        children: One run per strategy and seed (metric histories by experiment).
        artifacts: Files attached to the parent run (CSV, PNG).
        uri: Tracking URI (default: :func:`resolve_tracking_uri`).

    Returns:
        Where it was logged.

    Raises:
        TrackingError: MLflow is unreachable or refused a write (the sweep's files
            are unaffected).
    """
    uri = resolve_tracking_uri(uri)
    try:
        client = _replay_client(uri)
        exp_id = _replay_experiment(client, uri, experiment)
        parent = _replay_run(client, exp_id, sweep, "replay-sweep", None)
        for path in artifacts:
            client.log_artifact(parent, str(path))
        ids = []
        for child in children:
            run_id = _replay_run(client, exp_id, child, "replay-run", parent)
            client.set_terminated(run_id, status="FINISHED")
            ids.append(run_id)
        client.set_terminated(parent, status="FINISHED")
    except DoeError:
        raise
    except Exception as exc:
        raise TrackingError(
            f"Could not log the replay sweep to MLflow at {_mask_uri(uri)}: "
            f"{_reason(exc)}. The sweep's files are complete; log again with the "
            "same --out once MLflow is reachable."
        ) from exc
    return ReplayLog(_mask_uri(uri), experiment, exp_id, parent, tuple(ids))
