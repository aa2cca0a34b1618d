"""Our strategy: Sobol points for the initial design, then GP + BoTorch.

Inputs are the unit-cube encoding of the declared bounds (log where declared); one GP
per outcome (objectives and limited outcomes); qLogNEHVI (several objectives) or
qLogNEI (one) with the limits as constraints, failures as a learnt probability of
feasibility, and every pending trial as a pending point. Whenever the model cannot be
used (too few data, a constant outcome, a failed fit, every trial failed) it falls back
to the next space-filling point and says why in the proposal.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from typing_extensions import override

from doe._paths import import_path
from doe.definition import CampaignDefinition
from doe.strategies._history import History, Proposal, fixed_info, pin
from doe.strategy_settings import ACQUISITION_NAMES as _ACQ_NAMES
from doe.strategy_settings import GPSettings

__all__ = ["GPSettings", "GPStrategy", "SobolStrategy"]

MODEL_VERSION = "gp-3"
DESIGN_REASON = "initial design"  # the reason of every initial-design proposal
MAX_FLOORED = 0.25  # share of an objective's measurements that floor_tails may raise
DESIGN_CANDIDATES = 8192  # Sobol settings on which the expectation's front is found


class _HistorySampler(BaseSampler):
    """An Optuna sampler whose relative sample comes from ``propose`` on a History.

    So our strategies also run inside plain ``optuna.Study.optimize`` loops.
    """

    definition: CampaignDefinition

    @abc.abstractmethod
    def propose(
        self, history: History, n: int, *, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        """Return ``n`` proposals for the campaign's history.

        ``fixed`` (``{knob: value}``, checked by ``SearchSpace.validate_fixed``)
        holds some knobs at given values, e.g. a synthesis batch already made.
        """

    @override
    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        from doe.strategies._optuna import distributions

        return distributions(self.definition)

    @override
    def sample_relative(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        from doe.strategies._optuna import history_from_study

        history = history_from_study(self.definition, study, exclude=trial.number)
        proposal = self.propose(history, 1)[0]
        for key in ("strategy", "reason", "acq_value"):
            if key in proposal.info:
                study._storage.set_trial_system_attr(
                    trial._trial_id, f"doe:{key}", proposal.info[key]
                )
        return proposal.params

    @override
    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return RandomSampler(seed=trial.number).sample_independent(
            study, trial, param_name, param_distribution
        )


class SobolStrategy(_HistorySampler):
    """Scrambled Sobol points, continuing one sequence across batches."""

    name = "sobol"

    def __init__(self, definition: CampaignDefinition, *, seed: int | None = None):
        self.definition = definition
        self.seed = definition.seed if seed is None else seed

    @override
    def propose(
        self, history: History, n: int, *, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        return _sobol(
            history, n, seed=self.seed, strategy=self.name, reason="sobol", fixed=fixed
        )


def load_prior(path: str) -> Callable[..., Any]:
    """Import the expectation function named ``module:function``.

    Raises:
        InvalidArgumentError: The module cannot be imported, or has no such
            function; naming the setting, the value and the fix.
    """
    from doe.exceptions import InvalidArgumentError

    fix = (
        "give 'module:function' of an importable module (run from the folder that "
        'holds it, or install it), or prior = "off".'
    )
    module_name = path.partition(":")[0]
    try:
        _, attr, function = import_path(path)
    except ImportError as exc:
        raise InvalidArgumentError(
            f"GP setting prior={path!r}: cannot import {module_name!r} ({exc}); {fix}"
        ) from exc
    if not callable(function):
        raise InvalidArgumentError(
            f"GP setting prior={path!r}: {module_name!r} has no function {attr!r}; "
            f"{fix}"
        )
    return function  # type: ignore[no-any-return]  # checked callable above


class CampaignExpectation:
    """A lab's expectation function, seen from the unit cube of a campaign.

    The function takes ``{knob: array}`` in natural units (one array element per
    setting) and returns ``{outcome: array}`` for the outcomes it has an opinion
    on. Inputs are decoded without snapping to a knob's step (finite differences
    need a smooth function), clipped to the bounds.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        definition: CampaignDefinition,
        path: str,
    ) -> None:
        self.function = function
        self.definition = definition
        self.path = path

    def settings(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Unit-cube rows (`N x d`) as ``{knob: array}`` in natural units."""
        return {
            p.name: p.decode(X[:, i], snap=False)
            for i, p in enumerate(self.definition.space.parameters)
        }

    def evaluate(self, X: np.ndarray) -> Mapping[str, Any]:
        """The function's ``{outcome: array}`` at unit-cube rows, checked.

        Raises:
            InvalidArgumentError: Not a mapping of known outcome names to one
                finite number per row.
        """
        from doe.exceptions import InvalidArgumentError

        where = f"GP setting prior={self.path!r}"
        result = self.function(self.settings(X))
        if not isinstance(result, Mapping):
            raise InvalidArgumentError(
                f"{where} returned {type(result).__name__}; it must return a dict "
                "{outcome name: array of expected values}."
            )
        known = self.definition.outcome_names
        for name, values in result.items():
            if name not in known:
                raise InvalidArgumentError(
                    f"{where} returned {name!r}, which is no outcome of campaign "
                    f"{self.definition.name!r}; outcomes: {', '.join(known)}."
                )
            array = np.asarray(values, dtype=float)
            if array.shape != (X.shape[0],) or not np.isfinite(array).all():
                raise InvalidArgumentError(
                    f"{where} must give {name!r} as {X.shape[0]} finite numbers, "
                    "one per setting (within the knobs' bounds)."
                )
        return result

    def covered(self, X: np.ndarray, names: list[str]) -> list[str]:
        """The modelled outcomes (``names``) the function gives at ``X``.

        Raises:
            InvalidArgumentError: It gives none of them.
        """
        from doe.exceptions import InvalidArgumentError

        result = self.evaluate(X)
        covered = [n for n in names if n in result]
        if not covered:
            raise InvalidArgumentError(
                f"GP setting prior={self.path!r} gives none of the modelled outcomes "
                f"({', '.join(names)}); it returned {sorted(result)}."
            )
        return covered

    def prior_model(self, X: np.ndarray, names: list[str]) -> Any:
        """A `surrogates.PriorModel` of the modelled outcomes (``names``) it covers.

        Raises:
            InvalidArgumentError: As `covered`.
        """
        from surrogates import PriorModel

        covered = self.covered(X, names)
        return PriorModel(self.columns(covered), tuple(covered), name=self.path)

    def columns(self, names: list[str]) -> Callable[[np.ndarray], np.ndarray]:
        """``X -> N x k`` array of the expectation of ``names``, in that order."""

        def expected(X: np.ndarray) -> np.ndarray:
            result = self.evaluate(X)
            return np.column_stack([np.asarray(result[n], dtype=float) for n in names])

        return expected

    def front_box(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Unit-cube bounds of the settings it predicts to be Pareto-optimal.

        Found on `DESIGN_CANDIDATES` Sobol settings (fixed scrambling, so the box
        is the same for every seed): those whose expected objectives are all
        better than their thresholds and that meet every limit it has an
        expectation of, then the non-dominated ones; each knob's range over them.
        None when none qualifies.

        Raises:
            InvalidArgumentError: It has no expectation of some objective (the
                front needs them all).
        """
        from doe.exceptions import InvalidArgumentError
        from doe.objectives import pareto_mask

        d = self.definition
        X = d.space.sobol(DESIGN_CANDIDATES, seed=0)
        result = self.evaluate(X)
        missing = [o.name for o in d.objectives if o.name not in result]
        if missing:
            raise InvalidArgumentError(
                f"GP setting design_region='prior' needs the expectation "
                f"{self.path!r} to give every objective; it gives none of "
                f"{', '.join(missing)}. Add them to it, or set design_region = "
                "'cube'."
            )
        Y = np.column_stack(
            [o.sign * np.asarray(result[o.name], dtype=float) for o in d.objectives]
        )
        ok = np.ones(len(X), dtype=bool)
        for j, o in enumerate(d.objectives):
            if o.threshold is not None:
                ok &= Y[:, j] > o.sign * o.threshold
        for lim in d.limits:
            if lim.name in result:
                ok &= lim.is_met(np.asarray(result[lim.name], dtype=float))
        if not ok.any():
            return None
        front = X[ok][pareto_mask(Y[ok])]
        return front.min(axis=0), front.max(axis=0)


def _sobol(
    history: History,
    n: int,
    *,
    seed: int,
    strategy: str,
    reason: str,
    box: tuple[np.ndarray, np.ndarray] | None = None,
    fixed: Mapping[str, float] | None = None,
) -> list[Proposal]:
    """``n`` points of the scrambled Sobol sequence that continues the history's.

    With ``box`` (unit-cube lower and upper bounds) the sequence is mapped into it;
    ``fixed`` knobs take their values.
    """
    space = history.definition.space
    X = space.sobol(n, seed=seed, skip=history.n_total)
    if box is not None:
        X = box[0] + (box[1] - box[0]) * X
    info = fixed_info({"strategy": strategy, "reason": reason}, fixed)
    return [
        Proposal(params=pin(p, fixed), info=dict(info))
        for p in space.decode(space.with_fixed(X, fixed or {}))
    ]


@dataclass
class _Problem:
    """The arrays of one model fit, built from a History."""

    outcome_names: list[str]
    objective_index: list[int]
    signs: list[float]
    X: np.ndarray
    Y: np.ndarray
    X_failed: np.ndarray
    X_pending: np.ndarray
    warnings: list[str] = field(default_factory=list)


class GPStrategy(_HistorySampler):
    """The ``gp`` strategy (see the module docstring)."""

    name = "gp"

    def __init__(
        self,
        definition: CampaignDefinition,
        *,
        seed: int | None = None,
        settings: GPSettings | None = None,
    ):
        self.definition = definition
        self.seed = definition.seed if seed is None else seed
        self.settings = settings or GPSettings()
        self.settings.check_combination()
        self._expected = (
            None if self.settings.prior is None else load_prior(self.settings.prior)
        )

    @override
    def propose(
        self, history: History, n: int, *, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        """The rest of the initial design, then the model's proposals.

        With ``fixed`` knobs, design points take the fixed values and the model's
        proposals maximise the acquisition over the free knobs only, the model
        still using every knob (so what was learnt at other values counts).

        The design is ``n_initial`` space-filling experiments, measured or still
        running: in a lab with several channels the model takes over as soon as
        the design is all suggested and it can be fitted, instead of asking for
        more space-filling points until ``n_initial`` results are back (with 8
        channels that made the design 16-20 experiments long). Recorded data
        count towards the design; failed and abandoned design points are
        replaced (measured on the bench and in replays, 10 seeds: counting failed
        builds as part of the design did worse, 0.771 against 0.795).
        """
        first = self._design(history, n, fixed)
        if len(first) == n:
            return first
        rest = history.with_pending(first)
        try:
            with _torch_threads(self.settings.num_threads):
                return first + self._propose_model(rest, n - len(first), fixed)
        except _FallbackError as why:
            return first + _sobol(
                rest,
                n - len(first),
                seed=self.seed,
                strategy=self.name,
                reason=f"fallback: {why}",
                fixed=fixed,
            )

    def _design(
        self, history: History, n: int, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        """Up to ``n`` space-filling points of the initial design still missing."""
        running = sum(
            1
            for _, attrs in history.pending
            if str(attrs.get("provenance", {}).get("reason", "")).startswith(
                DESIGN_REASON
            )
        )
        missing = self.definition.n_initial - history.n_complete - running
        if missing <= 0:
            return []
        reason = (
            f"{DESIGN_REASON}: {history.n_complete} of "
            f"{self.definition.n_initial} space-filling points measured"
        )
        if history.failed:
            reason += f", {len(history.failed)} failed"
        box = self._design_box
        if box is not None:
            reason += ", around the expected front"
        return _sobol(
            history,
            min(n, missing),
            seed=self.seed,
            strategy=self.name,
            reason=reason,
            box=box,
            fixed=fixed,
        )

    @functools.cached_property
    def _design_box(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The initial design's unit-cube box (``design_region``); None: the cube."""
        if self.settings.design_region != "prior" or self._expected is None:
            return None
        expected = CampaignExpectation(
            self._expected, self.definition, str(self.settings.prior)
        )
        return expected.front_box()

    def _problem(self, history: History) -> _Problem:
        d = self.definition
        names = [o.name for o in d.objectives]
        names += [lim.name for lim in d.limits if lim.name not in names]
        Y = history.Y(names)
        keep = np.all(np.isfinite(Y[:, : len(d.objectives)]), axis=1)
        problem = _Problem(
            outcome_names=names,
            objective_index=list(range(len(d.objectives))),
            signs=[o.sign for o in d.objectives],
            X=history.X("complete")[keep],
            Y=Y[keep],
            X_failed=_failed_inputs(history),
            X_pending=history.X("pending"),
        )
        if problem.X.shape[0] < 2:
            raise _FallbackError(f"only {problem.X.shape[0]} usable measurement(s)")
        for j, name in enumerate(names):
            col = problem.Y[:, j]
            col = col[np.isfinite(col)]
            if col.size < 2:
                raise _FallbackError(f"outcome {name!r} has fewer than 2 measurements")
            if np.ptp(col) <= 1e-12 * max(1.0, abs(col).max()):
                problem.warnings.append(f"outcome {name!r} is constant")
        if len(problem.warnings) == len(names):
            raise _FallbackError("every outcome is constant")
        return problem

    def _training_data(self, problem: _Problem) -> tuple[np.ndarray, np.ndarray]:
        """What the outcome models are fitted on.

        The measurements with each objective floored below its threshold (see
        ``GPSettings.tail_floor``), plus, with ``impute_failures``, failed builds at
        the worst value seen of each outcome (so the outcome models, too, learn to
        stay away from settings that did not give a cell).
        """
        X, Y = self._with_failures(problem)
        if self.settings.tail_floor is None:
            return X, Y
        return X, floor_tails(
            Y,
            signs=problem.signs,
            thresholds=[o.threshold for o in self.definition.objectives],
            share=self.settings.tail_floor,
        )

    def _with_failures(self, problem: _Problem) -> tuple[np.ndarray, np.ndarray]:
        if not self.settings.impute_failures or not len(problem.X_failed):
            return problem.X, problem.Y
        worst = []
        limits = {lim.name: lim for lim in self.definition.limits}
        for j, name in enumerate(problem.outcome_names):
            col = problem.Y[:, j]
            if j < len(problem.signs):
                bad_high = problem.signs[j] < 0
            else:
                bad_high = limits[name].op == "<="
            worst.append(np.nanmax(col) if bad_high else np.nanmin(col))
        Y_failed = np.tile(np.array(worst), (len(problem.X_failed), 1))
        return np.vstack([problem.X, problem.X_failed]), np.vstack(
            [problem.Y, Y_failed]
        )

    def _ref_point(self, problem: _Problem) -> list[float]:
        ref = []
        for j, o in enumerate(self.definition.objectives):
            if o.threshold is not None:
                ref.append(o.sign * o.threshold)
                continue
            col = o.sign * problem.Y[:, j]
            lo, hi = float(np.nanmin(col)), float(np.nanmax(col))
            ref.append(lo - 0.1 * max(hi - lo, 1e-9))
        return ref

    def _fit(self, problem: _Problem, seed: int) -> tuple[Any, Any, float]:
        """Fit the outcome GPs and, when trials failed, the feasibility model."""
        from surrogates import SurrogateError, fit_feasibility, fit_gp

        s = self.settings
        start = time.perf_counter()
        X_fit, Y_fit = self._training_data(problem)
        try:
            sur = fit_gp(
                X_fit,
                Y_fit,
                outcome_names=problem.outcome_names,
                train_Yvar=self._known_noise(problem, len(X_fit)),
                seed=seed,
                maxiter=s.maxiter_fit,
                device=s.device,
                mean=s.mean,
                prior=self._prior_model(problem),
                noise_share=s.noise_share,
            )
            feas = None
            if problem.X_failed.shape[0]:
                X_all = np.vstack([problem.X, problem.X_failed])
                ok = np.r_[
                    np.ones(len(problem.X), bool), np.zeros(len(problem.X_failed), bool)
                ]
                feas = fit_feasibility(X_all, ok, seed=seed, device=s.device)
        except SurrogateError as exc:
            raise _FallbackError(f"model fit failed: {exc}") from exc
        return sur, feas, time.perf_counter() - start

    def _prior_model(self, problem: _Problem) -> Any:
        """The campaign's expectation as a `surrogates.PriorModel`, or None.

        Raises:
            InvalidArgumentError: The function returned a name that is no outcome
                of the campaign, covers none of the modelled ones, or gave values
                that are not one finite number per setting.
        """
        if self._expected is None:
            return None
        expected = CampaignExpectation(
            self._expected, self.definition, str(self.settings.prior)
        )
        return expected.prior_model(problem.X, problem.outcome_names)

    def _known_noise(self, problem: _Problem, n: int) -> np.ndarray | None:
        """`n x m` noise variances from the objectives' ``noise_sd`` (NaN: infer)."""
        sd = {o.name: o.noise_sd for o in self.definition.objectives}
        row = [sd.get(name) for name in problem.outcome_names]
        if all(v is None for v in row):
            return None
        var = np.array([np.nan if v is None else v**2 for v in row], dtype=float)
        return np.tile(var, (n, 1))

    def diagnose(self, history: History) -> dict[str, dict[str, Any]]:
        """Fit the model on the history and report its quality per outcome.

        Returns:
            ``{outcome: {"r2", "coverage_95", "rmse", "n", "lengthscales",
            "noise_std"}}`` (leave-one-out), or ``{}`` when the model cannot be fitted
            yet (fewer than 4 measurements: leave-one-out on fewer says nothing;
            constant outcomes).
        """
        fitted = self._fit_to_report(history)
        return {} if fitted is None else _diagnostics(fitted[1])

    def _fit_to_report(self, history: History) -> tuple[_Problem, Any] | None:
        """The problem and fitted surrogate of a report; None while it cannot be.

        Fewer than 4 measurements say nothing; constant outcomes cannot be fitted.
        """
        if history.n_complete < 4:
            return None
        try:
            problem = self._problem(history)
            sur, _, _ = self._fit(problem, _mix(self.seed, history.n_total))
        except _FallbackError:
            return None
        return problem, sur

    def estimate(
        self, history: History, settings: Sequence[Mapping[str, float]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The model's estimate of the expected outcomes at ``settings``.

        The expected outcome is what the cell gives on average, without the
        measurement scatter: for measured settings it is the measurement smoothed
        by its neighbours, the lab's expectation and the inferred noise.

        Args:
            history: The measurements the model is fitted on.
            settings: One mapping of knob values per setting.

        Returns:
            ``{outcome: (mean, std)}``, `n`-arrays in the outcome's unit, for the
            objectives and the limited outcomes; ``{}`` when the model cannot be
            fitted yet (fewer than 4 measurements, constant outcomes).
        """
        import torch

        fitted = self._fit_to_report(history)
        if fitted is None:
            return {}
        problem, sur = fitted
        X = torch.as_tensor(
            self.definition.space.encode([dict(row) for row in settings]),
            dtype=torch.float64,
            device=torch.device(self.settings.device),
        )
        mean, std = sur.predict(X)
        mean_np, std_np = mean.cpu().numpy(), std.cpu().numpy()
        return {
            name: (mean_np[:, j].copy(), std_np[:, j].copy())
            for j, name in enumerate(problem.outcome_names)
        }

    def _propose_model(
        self, history: History, n: int, fixed: Mapping[str, float] | None = None
    ) -> list[Proposal]:
        import torch

        from doe.acquisition import (
            AcquisitionSettings,
            LimitSpec,
            propose_batch,
        )

        s = self.settings
        problem = self._problem(history)
        seed = _mix(self.seed, history.n_total)
        tkw: dict[str, Any] = {"dtype": torch.float64, "device": torch.device(s.device)}
        sur, feas, fit_s = self._fit(problem, seed)
        acq_settings = AcquisitionSettings(
            num_restarts=s.num_restarts,
            raw_samples=s.raw_samples,
            mc_samples=s.mc_samples,
            maxiter=s.maxiter_acq,
            device=s.device,
            hypervolume=s.hypervolume,
            trust_length=s.trust_length,
        )
        limits = [
            LimitSpec(
                problem.outcome_names.index(lim.name),
                lim.value,
                1.0 if lim.op == ">=" else -1.0,
            )
            for lim in self.definition.limits
        ]
        X_pending = (
            torch.as_tensor(problem.X_pending, **tkw)
            if len(problem.X_pending)
            else None
        )
        joint = sur.joint_model  # same GPs, batched: about twice as fast
        cand = propose_batch(
            joint if joint is not None else sur.model,
            q=n,
            objective_index=problem.objective_index,
            signs=problem.signs,
            ref_point=self._ref_point(problem),
            limits=limits,
            X_baseline=torch.as_tensor(problem.X, **tkw),
            X_pending=X_pending,
            log_feasibility=feas.log_prob if feas is not None else None,
            seed=seed,
            settings=acq_settings,
            fixed_features=self.definition.space.fixed_features(fixed or {}),
        )
        mean, std = sur.predict(torch.as_tensor(cand.X, **tkw))
        info = {
            "strategy": self.name,
            "reason": "model: "
            + (
                _ACQ_NAMES[s.hypervolume]
                if len(problem.objective_index) > 1
                else "qLogNEI"
            )
            + (" x P(feasible)" if feas is not None else ""),
            "model_version": MODEL_VERSION,
            "data_hash": history.data_hash(),
            "acq_value": cand.acq_value,
            "fit_seconds": round(fit_s, 4),
            "acq_seconds": round(cand.seconds, 4),
            "warnings": [*problem.warnings, *sur.warnings],
            "diagnostics": _diagnostics(sur),
            "seed": seed,
        }
        mean_np, std_np = mean.cpu().numpy(), std.cpu().numpy()
        predicted = [
            {
                name: [float(mean_np[i, j]), float(std_np[i, j])]
                for j, name in enumerate(problem.outcome_names)
            }
            for i in range(len(cand.X))
        ]
        return self._to_proposals(
            history, cand.X, predicted, fixed_info(info, fixed), fixed
        )

    def _to_proposals(
        self,
        history: History,
        X: np.ndarray,
        predicted: list[dict[str, list[float]]],
        info: dict[str, Any],
        fixed: Mapping[str, float] | None = None,
    ) -> list[Proposal]:
        space = self.definition.space
        seen = np.vstack(
            [history.X("complete"), history.X("failed"), history.X("pending")]
        )
        backups = iter(
            space.with_fixed(
                space.sobol(len(X), seed=self.seed + 7919, skip=history.n_total),
                fixed or {},
            )
        )
        out: list[Proposal] = []
        for i, decoded in enumerate(space.decode(X)):
            params = pin(decoded, fixed)
            x = space.encode_one(params)
            dist = np.min(np.linalg.norm(seen - x, axis=1)) if len(seen) else np.inf
            if dist < self.settings.min_distance:
                backup = pin(space.decode(next(backups))[0], fixed)
                reason = "fallback: candidate repeated a trial"
                out.append(Proposal(backup, {**info, "reason": reason}))
            else:
                out.append(Proposal(params, {**info, "predicted": predicted[i]}))
            seen = np.vstack([seen, space.encode_one(out[-1].params)])
        return out


def floor_tails(
    Y: np.ndarray,
    /,
    *,
    signs: list[float],
    thresholds: list[float | None],
    share: float,
) -> np.ndarray:
    """Lift each objective's worst values to ``threshold - share x (best - threshold)``.

    Args:
        Y: `n x m` outcomes in natural units; the first ``len(signs)`` columns are
            the objectives (NaN: not measured).
        signs: +1 maximise / -1 minimise per objective.
        thresholds: The objectives' thresholds (None: left as measured).
        share: Distance of the floor on the bad side of the threshold, as a share
            of the best value's distance on the good side.

    Returns:
        A copy of ``Y`` with the floored objectives. The floor is lowered so that
        it raises at most the worst quarter of an objective's values
        (``MAX_FLOORED``), and an objective none of whose values is better than
        its threshold is left as measured: where most measurements are worse than
        the threshold, their slope is all there is to learn from.

    Example:
        >>> floor_tails(np.array([[80.0], [10.0], [50.0]]), signs=[1.0],
        ...             thresholds=[40.0], share=0.5)[:, 0].tolist()
        [80.0, 20.0, 50.0]
    """
    out = np.array(Y, dtype=float, copy=True)
    for j, (sign, threshold) in enumerate(zip(signs, thresholds, strict=True)):
        col = sign * out[:, j]
        if threshold is None or not np.any(np.isfinite(col)):
            continue
        t = sign * threshold
        best = float(np.nanmax(col))
        if best <= t:
            continue
        # Never more than the worst quarter: where most of the space is worse than
        # the threshold, the rest keeps its slope towards the good region.
        floor = min(t - share * (best - t), float(np.nanquantile(col, MAX_FLOORED)))
        out[:, j] = sign * np.where(np.isfinite(col), np.maximum(col, floor), col)
    return out


class _FallbackError(Exception):
    """The model cannot be used; the message says why."""


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _failed_inputs(history: History) -> np.ndarray:
    """Inputs of failed builds that say something about the settings.

    A ``lost`` cell (dropped, mislabelled) says nothing about its settings, so it
    teaches neither the feasibility model nor the outcome models.
    """
    rows = [p for p, attrs in history.failed if attrs.get("failure_kind") != "lost"]
    space = history.definition.space
    return space.encode(rows) if rows else np.zeros((0, space.dim))


def _diagnostics(sur: Any) -> dict[str, dict[str, Any]]:
    """Leave-one-out quality, lengthscales and noise of a fitted surrogate."""
    loo = sur.loo_cv()
    scales, noise = sur.lengthscales(), sur.noise()
    weights = sur.prior_weights()
    return {
        name: {
            "r2": _finite_or_none(res.r2),
            "coverage_95": _finite_or_none(res.coverage_95),
            "rmse": _finite_or_none(res.rmse),
            "n": int(res.n),
            "lengthscales": [round(float(v), 5) for v in scales[name]],
            "noise_std": _finite_or_none(noise[name]),
            "prior_weight": (
                _finite_or_none(weights[name]) if name in weights else None
            ),
        }
        for name, res in loo.items()
    }


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _mix(seed: int, n: int) -> int:
    """A per-batch seed: deterministic for (campaign seed, number of trials)."""
    return int(np.random.SeedSequence([seed, n]).generate_state(1)[0] % (2**31 - 1))


def with_settings(strategy: GPStrategy, **changes: Any) -> GPStrategy:
    """A copy of ``strategy`` with some settings changed."""
    return GPStrategy(
        strategy.definition,
        seed=strategy.seed,
        settings=replace(strategy.settings, **changes),
    )
