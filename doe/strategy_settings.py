"""Settings of the ``gp`` strategy, and the ``[gp]`` table of a campaign file.

Plain Python (no torch), so a campaign definition validates its ``[gp]`` table when
it is read, and ``doe --help`` stays instant. The strategy itself is
`doe.strategies.gp.GPStrategy`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from doe.exceptions import InvalidArgumentError

__all__ = [
    "ACQUISITION_NAMES",
    "DESIGN_REGIONS",
    "FILE_KEYS",
    "MEAN_FUNCTIONS",
    "OFF",
    "GPSettings",
    "file_options",
    "table_of",
]

ACQUISITION_NAMES = {"ehvi": "LogEHVI", "qehvi": "qLogEHVI", "nehvi": "qLogNEHVI"}
MEAN_FUNCTIONS = (
    "constant",
    "quadratic",
)  # surrogates.means.MEAN_FUNCTIONS, without torch
DESIGN_REGIONS = ("cube", "prior")
OFF = "off"  # TOML has no null: `trust_length = "off"` means None
_NULLABLE_NUMBERS = ("trust_length", "tail_floor", "noise_share")
_NULLABLE = (*_NULLABLE_NUMBERS, "prior")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")
_COUNTS = (
    "num_restarts",
    "raw_samples",
    "mc_samples",
    "maxiter_fit",
    "maxiter_acq",
    "num_threads",
)


@dataclass(frozen=True)
class GPSettings:
    """Settings of the ``gp`` strategy.

    Attributes:
        num_restarts: Acquisition restarts per candidate.
        raw_samples: Raw quasi-random samples to choose restarts.
        mc_samples: Posterior QMC samples.
        maxiter_fit: L-BFGS iterations of each GP fit.
        maxiter_acq: L-BFGS-B iterations per restart.
        device: ``"cpu"`` or ``"cuda"``.
        hypervolume: ``"ehvi"`` (analytic log-EHVI, kriging-believer batches; the
            default and the fastest), ``"qehvi"`` (the same with BoTorch's Monte
            Carlo qLogEHVI) or ``"nehvi"`` (qLogNEHVI of whole batches; slow).
        trust_length: Soft trust region around the model's Pareto set (see
            ``AcquisitionSettings``); None turns it off.
        impute_failures: Add failed builds to the outcome models at the worst value
            seen of each outcome, besides the feasibility model.
        num_threads: Torch threads while proposing (1 avoids oversubscribing the
            cores when several campaigns or replay seeds run side by side).
        min_distance: Candidates closer than this (unit cube) to an existing trial are
            replaced by a space-filling point.
        mean: Prior mean of the outcome GPs: ``"quadratic"`` (the default; a trend
            quadratic in each knob, fitted with the GP, so the model follows the
            peak of an outcome instead of pulling it towards the data's average)
            or ``"constant"`` (BoTorch's default).
        tail_floor: Floor of the objectives' values that the outcome models see,
            as a share of how far the best measurement is better than the
            objective's threshold: a value worse than ``threshold - tail_floor x
            (best - threshold)`` is modelled at that floor. The hypervolume counts
            nothing worse than the threshold, so how much worse a cell is does
            not matter, while a deep tail (the plating cliff: 10 % retention, a
            safety score of 45) makes a stationary GP shorten its lengthscales and
            blur the region that does matter. Not applied to an objective without
            a threshold, nor before some measurement is better than it, and
            never to more than the worst quarter of the values. None (the
            default) models the values as measured. Measured: 0.05 helps on the
            simulated cell and costs on DTLZ2 (see the CHANGELOG), so it is an
            option, not the default.
        prior: What the lab expects before measuring, as ``"module:function"``:
            the function takes ``{knob: array}`` in natural units and returns
            ``{outcome: array}`` for the outcomes it has an expectation of (a mass
            balance, a back-of-envelope model). Each such outcome's GP mean adds
            the expectation, standardised, times a fitted weight, so the GP models
            how cells differ from it (`surrogates.PriorModel`). None (the
            default): no expectation.
        design_region: Where the initial design's space-filling points go:
            ``"cube"`` (the default: every knob's whole range) or ``"prior"``: each
            knob's range over the settings that the expectation (``prior``)
            predicts to be Pareto-optimal (every objective better than its
            threshold, every limit met). A knob the expectation has no opinion on
            spans the front, so it keeps its whole range; an expectation that
            predicts no such setting leaves the whole cube. The model's proposals
            after the design may go anywhere. Needs ``prior``. Measured on the
            simulated cell (40 paired replays): +0.033 of the true hypervolume
            at 40 experiments; widening the box by a tenth or a fifth of each
            knob's range did worse (-0.012, -0.022).
        noise_share: The prior median of each inferred measurement noise, as a
            share of the outcome's standard deviation over the measurements
            (`surrogates.fit_gp`). None (the default) keeps BoTorch's prior
            (median about 0.14), made for nearly noise-free functions; with it a
            GP fitted on a few dozen scattered measurements takes the scatter
            for signal. The cell campaign sets 0.6 (measured: +0.008 of the true
            hypervolume over 80 paired replays). An outcome whose repeatability
            is known is better given its ``noise_sd``.
    """

    num_restarts: int = 8
    raw_samples: int = 256
    mc_samples: int = 64
    maxiter_fit: int = 150
    maxiter_acq: int = 100
    device: str = "cpu"
    hypervolume: str = "ehvi"
    trust_length: float | None = 0.3
    impute_failures: bool = False
    min_distance: float = 1e-4
    num_threads: int = 1
    mean: str = "quadratic"
    tail_floor: float | None = None
    prior: str | None = None
    design_region: str = "cube"
    noise_share: float | None = None

    def check_combination(self) -> None:
        """Check the settings that depend on each other, once all are given.

        Not in ``__post_init__``: a strategy variant (``gp[design_region=prior]``)
        gives some settings, and the campaign file the rest.

        Raises:
            InvalidArgumentError: ``design_region='prior'`` without ``prior``.
        """
        if self.design_region == "prior" and self.prior is None:
            raise InvalidArgumentError(
                "GP setting design_region='prior' needs an expectation: set prior "
                "= 'module:function', or design_region = 'cube'."
            )

    def __post_init__(self) -> None:
        if self.prior is not None and not (
            isinstance(self.prior, str) and _IMPORT_PATH.match(self.prior)
        ):
            raise InvalidArgumentError(
                f"GP setting prior must be 'module:function' (e.g. "
                f"'campaigns.li2s_si.prior:expected') or None; got {self.prior!r}."
            )
        if self.design_region not in DESIGN_REGIONS:
            raise InvalidArgumentError(
                f"GP setting design_region={self.design_region!r} is not known; "
                f"choose one of {', '.join(map(repr, DESIGN_REGIONS))}."
            )
        if self.mean not in MEAN_FUNCTIONS:
            raise InvalidArgumentError(
                f"GP setting mean={self.mean!r} is not known; choose one of "
                f"{', '.join(map(repr, MEAN_FUNCTIONS))}."
            )
        if self.hypervolume not in ACQUISITION_NAMES:
            raise InvalidArgumentError(
                f"GP setting hypervolume={self.hypervolume!r} is not known; choose "
                f"one of {', '.join(map(repr, ACQUISITION_NAMES))}."
            )
        for name in _COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(
                    f"GP setting {name} must be a whole number >= 1; got {value!r}."
                )
        if self.tail_floor is not None and not (
            isinstance(self.tail_floor, int | float)
            and not isinstance(self.tail_floor, bool)
            and 0 <= self.tail_floor < float("inf")
        ):
            raise InvalidArgumentError(
                f"GP setting tail_floor must be a number >= 0 (share of the best "
                f"measurement's distance beyond the threshold) or None to model the "
                f"values as measured; got {self.tail_floor!r}."
            )
        if self.noise_share is not None and not (
            isinstance(self.noise_share, int | float)
            and not isinstance(self.noise_share, bool)
            and 0 < self.noise_share <= 10
        ):
            raise InvalidArgumentError(
                f"GP setting noise_share must be a number above 0 and at most 10 "
                f"(the noise's standard deviation as a share of the outcome's) or "
                f"None for BoTorch's prior; got {self.noise_share!r}."
            )
        if self.trust_length is not None and not (
            isinstance(self.trust_length, int | float)
            and not isinstance(self.trust_length, bool)
            and 0 < self.trust_length < float("inf")
        ):
            raise InvalidArgumentError(
                f"GP setting trust_length must be > 0 (unit-cube distance) or None "
                f"to turn the trust region off; got {self.trust_length!r}."
            )
        if not isinstance(self.impute_failures, bool):
            raise InvalidArgumentError(
                f"GP setting impute_failures must be true or false; got "
                f"{self.impute_failures!r}."
            )
        if not (
            isinstance(self.min_distance, int | float)
            and not isinstance(self.min_distance, bool)
            and 0 <= self.min_distance < 1
        ):
            raise InvalidArgumentError(
                f"GP setting min_distance must be a unit-cube distance from 0 to 1 "
                f"(exclusive); got {self.min_distance!r}."
            )
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith(
            "cuda:"
        ):
            raise InvalidArgumentError(
                f"GP setting device must be 'cpu', 'cuda' or 'cuda:<index>'; got "
                f"{self.device!r}."
            )


FILE_KEYS = tuple(
    f.name for f in fields(GPSettings) if f.name not in ("device", "num_threads")
)
"""Keys of a campaign file's ``[gp]`` table: how the campaign is modelled. The
machine-level ``device`` and ``num_threads`` are options of the command or service."""


def file_options(
    table: Mapping[str, Any], where: str = "[gp]", *, complete: bool = True
) -> dict[str, Any]:
    """Validate a ``[gp]`` table; return its options for `GPSettings`.

    With ``complete=False`` (a strategy variant's few settings, merged later with
    the campaign's), the settings that depend on each other are not checked.

    ``"off"`` stands for None (no trust region, no tail floor), since TOML has no
    null.

    Raises:
        InvalidArgumentError: An unknown key (with the closest known one) or a bad
            value, naming the key, the value and what is expected.
    """
    from doe.space import closest_name

    if not isinstance(table, Mapping):
        raise InvalidArgumentError(
            f"{where} must be a table of GP settings (e.g. tail_floor = 0.05); got "
            f"{table!r}."
        )
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key not in FILE_KEYS:
            raise InvalidArgumentError(
                f"Unknown key {key!r} in {where}.{closest_name(key, FILE_KEYS)} "
                f"Allowed: {', '.join(FILE_KEYS)}."
            )
        if key in _NULLABLE_NUMBERS and isinstance(value, str) and value != OFF:
            raise InvalidArgumentError(
                f"{where}.{key} = {value!r}: give a number or {OFF!r}."
            )
        options[key] = None if key in _NULLABLE and value == OFF else value
    try:
        settings = GPSettings(**options)
        if complete:
            settings.check_combination()
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{where}: {exc}") from exc
    return options


def table_of(options: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `file_options`: None written as ``"off"``."""
    return {k: OFF if v is None else v for k, v in options.items()}
