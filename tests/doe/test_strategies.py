"""The gp strategy: model path, fallbacks, pending points, feasibility, determinism."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from doe.definition import CampaignDefinition
from doe.exceptions import UnknownStrategyError
from doe.objectives import pareto_mask
from doe.strategies import GPSettings, GPStrategy, History, make_strategy
from tests.conftest import TOY, toy_outcomes

TOY_OBJECTIVES = TOY["objectives"]

FAST = GPSettings(
    num_restarts=2, raw_samples=32, mc_samples=16, maxiter_fit=50, maxiter_acq=20
)


@pytest.fixture(name="definition")
def fixture_definition(toy_dict: dict[str, Any]) -> CampaignDefinition:
    return CampaignDefinition.from_dict(toy_dict)


def _history(
    d: CampaignDefinition, n: int, *, outcome=toy_outcomes, pending: int = 0, failed=()
) -> History:
    rows = d.space.decode(d.space.sobol(n + pending, seed=11))
    complete = tuple((r, outcome(r), {}) for r in rows[:n])
    return History(
        definition=d,
        complete=complete,
        failed=tuple((f, {}) for f in failed),
        pending=tuple((r, {}) for r in rows[n:]),
        n_total=n + pending + len(failed),
    )


def test_initial_design_is_space_filling(definition: CampaignDefinition) -> None:
    props = GPStrategy(definition, settings=FAST).propose(_history(definition, 1), 3)
    assert all(p.info["reason"].startswith("initial design") for p in props)
    assert len({tuple(p.params.values()) for p in props}) == 3


def _design_point(row: dict[str, float]) -> tuple[dict[str, float], dict]:
    return row, {"provenance": {"reason": "initial design: 0 of 4 measured"}}


def test_the_model_takes_over_once_the_design_is_suggested(
    definition: CampaignDefinition,
) -> None:
    # A lab with many channels: 4 design points measured, 4 still running. The
    # design (8 points) is all suggested, so the model proposes; it used to ask
    # for space-filling points until 8 results were back.
    d = CampaignDefinition.from_dict({**definition.to_dict(), "initial_design": 8})
    rows = d.space.decode(d.space.sobol(8, seed=11))
    complete = tuple((r, toy_outcomes(r), {}) for r in rows[:4])
    running = tuple(_design_point(r) for r in rows[4:])
    h = History(definition=d, complete=complete, pending=running, n_total=8)
    props = GPStrategy(d, settings=FAST).propose(h, 2)
    assert [p.info["reason"] for p in props] == ["model: LogEHVI"] * 2
    # one design point still missing: it comes first, and the model sees it pending
    h = replace(h, pending=running[:3], n_total=7)
    props = GPStrategy(d, settings=FAST).propose(h, 3)
    reasons = [p.info["reason"] for p in props]
    assert (
        reasons
        == ["initial design: 4 of 8 space-filling points measured"]
        + ["model: LogEHVI"] * 2
    )
    assert len({tuple(p.params.values()) for p in props}) == 3
    # model-proposed pending points do not count towards the design
    h = replace(h, pending=tuple((r, {}) for r in rows[4:7]))
    props = GPStrategy(d, settings=FAST).propose(h, 2)
    assert props[0].info["reason"].startswith("initial design")
    assert props[1].info["reason"].startswith("initial design")


def test_model_proposals_carry_provenance(definition: CampaignDefinition) -> None:
    props = GPStrategy(definition, settings=FAST).propose(
        _history(definition, 8, pending=2), 3
    )
    assert len(props) == 3
    for p in props:
        definition.space.validate(p.params)
        assert p.info["reason"] == "model: LogEHVI"
        assert set(p.info["predicted"]) == {"yield_pct", "cost_eur", "purity_pct"}
        mean, std = p.info["predicted"]["cost_eur"]
        assert 0.5 < mean < 12 and std >= 0
        assert len(p.info["data_hash"]) == 12
        assert p.info["fit_seconds"] >= 0 and p.info["acq_seconds"] >= 0
    assert len({tuple(p.params.values()) for p in props}) == 3


def test_known_noise_of_an_objective_is_used(toy_dict: dict[str, Any]) -> None:
    toy_dict["objectives"][1]["noise_sd"] = 0.5  # cost_eur, in EUR
    d = CampaignDefinition.from_dict(toy_dict)
    quality = GPStrategy(d, settings=FAST).diagnose(_history(d, 8))
    assert quality["cost_eur"]["noise_std"] == pytest.approx(0.5, rel=1e-6)
    props = GPStrategy(d, settings=FAST).propose(_history(d, 8, pending=2), 3)
    assert all(p.info["reason"].startswith("model:") for p in props)
    # without noise_sd it is inferred: cost is linear and noise-free, so small
    inferred = GPStrategy(
        CampaignDefinition.from_dict({**toy_dict, "objectives": TOY_OBJECTIVES}),
        settings=FAST,
    ).diagnose(_history(d, 8))
    assert inferred["cost_eur"]["noise_std"] < 0.25


def test_same_seed_and_data_give_the_same_batch(definition: CampaignDefinition) -> None:
    h = _history(definition, 8)
    a = GPStrategy(definition, settings=FAST).propose(h, 2)
    b = GPStrategy(definition, settings=FAST).propose(h, 2)
    assert [p.params for p in a] == [p.params for p in b]


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        pytest.param(
            lambda r: {"yield_pct": 1.0, "cost_eur": 2.0, "purity_pct": 95.0},
            "every outcome is constant",
            id="constant",
        ),
        pytest.param(
            lambda r: {"yield_pct": 1.0, "cost_eur": 2.0},
            "'purity_pct' has fewer than 2",
            id="missing-limit-outcome",
        ),
    ],
)
def test_awkward_data_falls_back_and_says_why(
    definition: CampaignDefinition, outcome, reason: str
) -> None:
    props = GPStrategy(definition, settings=FAST).propose(
        _history(definition, 6, outcome=outcome), 2
    )
    assert all(p.info["reason"].startswith("fallback") for p in props)
    assert reason in props[0].info["reason"]


def test_duplicate_points_still_fit(definition: CampaignDefinition) -> None:
    row = {"temp_c": 50.0, "conc_mol_l": 0.2}
    complete = tuple((row, toy_outcomes(row), {}) for _ in range(6))
    complete += tuple(
        (r, toy_outcomes(r), {})
        for r in definition.space.decode(definition.space.sobol(3, seed=2))
    )
    h = History(definition=definition, complete=complete, n_total=9)
    props = GPStrategy(definition, settings=FAST).propose(h, 2)
    assert len(props) == 2
    for p in props:
        definition.space.validate(p.params)


def test_all_failed_keeps_filling_the_space_and_says_why(
    definition: CampaignDefinition,
) -> None:
    rows = definition.space.decode(definition.space.sobol(6, seed=5))
    d = CampaignDefinition.from_dict({**definition.to_dict(), "initial_design": 1})
    h = History(definition=d, failed=tuple((r, {}) for r in rows), n_total=6)
    props = GPStrategy(d, settings=FAST).propose(h, 2)
    assert [p.info["reason"] for p in props] == [
        "initial design: 0 of 1 space-filling points measured, 6 failed",
        "fallback: only 0 usable measurement(s)",
    ]
    fresh = {tuple(p.params.values()) for p in props}
    assert not fresh & {tuple(r.values()) for r in rows}


def test_failures_steer_away_from_the_failed_region(
    definition: CampaignDefinition,
) -> None:
    # everything hotter than 65 C failed to build: the model should learn that
    space = definition.space
    rows = space.decode(space.sobol(16, seed=4))
    ok = [r for r in rows if r["temp_c"] <= 65]
    bad = [r for r in rows if r["temp_c"] > 65]
    bad += [
        {"temp_c": t, "conc_mol_l": c}
        for t in (68.0, 72.0, 76.0, 79.0)
        for c in (0.05, 0.5)
    ]
    h = History(
        definition=definition,
        complete=tuple((r, toy_outcomes(r), {}) for r in ok),
        failed=tuple((r, {}) for r in bad),
        n_total=len(rows) + 8,
    )
    props = GPStrategy(definition, settings=FAST).propose(h, 4)
    assert "P(feasible)" in props[0].info["reason"]
    assert sum(p.params["temp_c"] > 66 for p in props) <= 1


def test_unknown_strategy(definition: CampaignDefinition) -> None:
    with pytest.raises(UnknownStrategyError, match="Did you mean 'tpe'"):
        make_strategy("tep", definition)


@pytest.mark.parametrize(
    "name", ["gp", "sobol", "random", "tpe", "nsga2", "gpsampler", "botorch"]
)
def test_every_strategy_proposes_inside_the_bounds(
    definition: CampaignDefinition, name: str
) -> None:
    options = FAST.__dict__ if name == "gp" else {}
    strat = make_strategy(
        name, definition, **({k: v for k, v in options.items() if k != "device"})
    )
    props = strat.propose(_history(definition, 6, pending=1), 2)
    assert len(props) == 2
    for p in props:
        assert definition.space.validate(p.params) == pytest.approx(p.params)
        assert p.info["strategy"] == name


def test_botorch_baseline_proposes_from_its_model(
    toy_dict: dict[str, Any], definition: CampaignDefinition
) -> None:
    # Past the 4-point design, BoTorch's own recipe models the 10 measurements:
    # the toy front is yield's peak at 60 C, along the whole concentration range
    # (a random proposal lands within 8 C of it one time in four).
    props = make_strategy("botorch", definition).propose(
        _history(definition, 10, pending=1), 3
    )
    assert [p.info["reason"] for p in props] == ["optuna BoTorchSampler"] * 3
    assert all(abs(p.params["temp_c"] - 60.0) < 8.0 for p in props)
    assert len({round(p.params["conc_mol_l"], 3) for p in props}) == 3
    # One objective (qLogEI): the yield's peak, at the highest concentration.
    single = CampaignDefinition.from_dict(
        {**toy_dict, "objectives": toy_dict["objectives"][:1]}
    )
    props = make_strategy("botorch", single).propose(_history(single, 10), 2)
    for p in props:
        assert abs(p.params["temp_c"] - 60.0) < 8.0
        assert p.params["conc_mol_l"] > 0.5


def test_lost_cells_teach_nothing_and_failures_can_be_imputed(
    definition: CampaignDefinition,
) -> None:
    from doe.strategies.gp import _failed_inputs

    h = _history(definition, 8)
    bad = {"temp_c": 79.0, "conc_mol_l": 0.9}
    lost = {"temp_c": 21.0, "conc_mol_l": 0.02}
    h = History(
        definition=definition,
        complete=h.complete,
        failed=(
            (bad, {"failure_kind": "build_failed"}),
            (lost, {"failure_kind": "lost"}),
        ),
        n_total=10,
    )
    X_failed = _failed_inputs(h)
    assert X_failed.shape == (1, 2)
    np.testing.assert_allclose(X_failed[0], definition.space.encode_one(bad))
    strat = GPStrategy(definition, settings=GPSettings(impute_failures=True))
    X, Y = strat._training_data(strat._problem(h))
    assert X.shape == (9, 2)
    worst = Y[-1]
    measured = Y[:-1]
    assert worst[0] == measured[:, 0].min()  # yield is maximised: worst is the lowest
    assert worst[1] == measured[:, 1].max()  # cost is minimised: worst is the highest
    assert (
        worst[2] == measured[:, 2].min()
    )  # purity must stay >= 90: worst is the lowest


@pytest.mark.parametrize("name", ["gp", "sobol"])
def test_our_strategies_run_as_plain_optuna_samplers(
    definition: CampaignDefinition, name: str
) -> None:
    import optuna

    options = (
        {k: v for k, v in FAST.__dict__.items() if k != "device"}
        if name == "gp"
        else {}
    )
    sampler = make_strategy(name, definition, **options)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = {
            p.name: trial.suggest_float(p.name, p.low, p.high, log=p.log)
            for p in definition.space.parameters
        }
        out = toy_outcomes(params)
        trial.set_user_attr("outcomes", out)
        return out["yield_pct"], out["cost_eur"]

    study.optimize(objective, n_trials=6)
    assert len(study.trials) == 6
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    assert len({tuple(t.params.values()) for t in study.trials}) == 6


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hypervolume": "ehvii"}, r"hypervolume='ehvii' is not known; choose one of"),
        ({"num_restarts": 0}, r"num_restarts must be a whole number >= 1; got 0"),
        ({"raw_samples": 2.5}, r"raw_samples must be a whole number"),
        ({"trust_length": 0.0}, r"trust_length must be > 0 .* or None"),
        ({"mean": "linear"}, r"mean='linear' is not known; choose one of 'constant'"),
        ({"tail_floor": -0.1}, r"tail_floor must be a number >= 0 .* got -0.1"),
        ({"tail_floor": True}, r"tail_floor must be a number >= 0 .* got True"),
        ({"trust_length": "wide"}, r"trust_length must be > 0 .* got 'wide'"),
        ({"impute_failures": 1}, r"impute_failures must be true or false; got 1"),
        ({"min_distance": 2.0}, r"min_distance must be a unit-cube distance"),
        ({"device": "gpu"}, r"device must be 'cpu', 'cuda' or 'cuda:<index>'"),
        ({"noise_share": 0.0}, r"noise_share must be a number above 0 .* got 0.0"),
        ({"noise_share": 11}, r"noise_share must be a number above 0 .* got 11"),
        ({"noise_share": True}, r"noise_share must be a number above 0 .* got True"),
    ],
)
def test_bad_gp_settings_are_named(change: dict[str, Any], match: str) -> None:
    from doe.exceptions import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=match):
        GPSettings(**change)


def test_gp_settings_mean_names_match_the_surrogates_package() -> None:
    from doe.strategy_settings import MEAN_FUNCTIONS as SETTINGS_MEANS
    from surrogates.means import MEAN_FUNCTIONS

    assert SETTINGS_MEANS == MEAN_FUNCTIONS


def test_floor_tails_raises_only_the_values_far_beyond_the_threshold() -> None:
    from doe.strategies.gp import floor_tails

    yield_pct = [80.0, 10.0, 38.0, 60.0, 70.0, 75.0, 65.0, 50.0]  # max, threshold 40
    cost_eur = [5.0, 30.0, 25.0, 20.0, 40.0, 35.0, 15.0, np.nan]  # min, threshold 10
    free = [1.0, -9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]  # not an objective
    Y = np.column_stack([yield_pct, cost_eur, free])
    out = floor_tails(Y, signs=[1.0, -1.0], thresholds=[40.0, 10.0], share=0.5)
    # yield: best 80 lies 40 beyond 40: floor 40 - 20 = 20, only 10 is raised.
    np.testing.assert_array_equal(out[:, 0], [80, 20, 38, 60, 70, 75, 65, 50])
    # cost: the floor 10 + 2.5 would bring down 6 of 7; at most the worst quarter
    # comes down, to the 75 % quantile of the measured cost (32.5 EUR here).
    np.testing.assert_array_equal(out[:, 1], [5, 30, 25, 20, 32.5, 32.5, 15, np.nan])
    np.testing.assert_array_equal(out[:, 2], free)
    np.testing.assert_array_equal(Y[:, 1], cost_eur)  # input untouched


def test_floor_tails_leaves_an_objective_that_never_beat_its_threshold() -> None:
    from doe.strategies.gp import floor_tails

    Y = np.array([[30.0], [-50.0]])
    for thresholds in ([40.0], [None]):
        out = floor_tails(Y, signs=[1.0], thresholds=thresholds, share=0.0)
        np.testing.assert_array_equal(out, Y)


def test_gp_models_floored_objectives_unless_told_not_to(
    toy_dict: dict[str, Any],
) -> None:
    toy_dict["objectives"][1]["threshold"] = 3.0  # cost: the toy lab's 1-9 EUR
    definition = CampaignDefinition.from_dict(toy_dict)
    h = _history(definition, 8)
    floored = GPStrategy(definition, settings=GPSettings(tail_floor=0.0))
    X, Y = floored._training_data(floored._problem(h))
    raw = GPStrategy(definition, settings=GPSettings(tail_floor=None))
    X_raw, Y_raw = raw._training_data(raw._problem(h))
    np.testing.assert_array_equal(X, X_raw)
    from doe.strategies.gp import MAX_FLOORED

    cost = Y_raw[:, 1]
    assert (cost > 3.0).any() and (cost < 3.0).any()  # the toy data straddle it
    cap = max(3.0, float(np.quantile(cost, 1.0 - MAX_FLOORED)))
    np.testing.assert_array_equal(Y[:, 1], np.minimum(cost, cap))
    assert 0 < (Y[:, 1] != cost).sum() <= MAX_FLOORED * len(cost)
    np.testing.assert_array_equal(Y[:, [0, 2]], Y_raw[:, [0, 2]])


def test_make_strategy_takes_the_campaign_gp_table(toy_dict: dict[str, Any]) -> None:
    toy_dict["gp"] = {"tail_floor": 0.05, "trust_length": "off", "num_restarts": 3}
    definition = CampaignDefinition.from_dict(toy_dict)
    strat = make_strategy("gp", definition)
    assert isinstance(strat, GPStrategy)
    assert strat.settings.tail_floor == 0.05
    assert strat.settings.trust_length is None
    assert strat.settings.num_restarts == 3
    assert strat.settings.raw_samples == GPSettings().raw_samples  # not in the table
    # a call's own options win over the file
    assert make_strategy("gp", definition, num_restarts=5).settings.num_restarts == 5  # type: ignore[attr-defined]
    # other strategies ignore the table
    assert make_strategy("sobol", definition).name == "sobol"


PRIOR = "tests.doe.priors:toy_expected"


def test_a_campaign_prior_goes_into_the_outcome_models(
    toy_dict: dict[str, Any],
) -> None:
    toy_dict["gp"] = {"prior": PRIOR}
    d = CampaignDefinition.from_dict(toy_dict)
    strat = make_strategy(
        "gp",
        d,
        **{
            k: getattr(FAST, k)
            for k in ("num_restarts", "raw_samples", "maxiter_fit", "maxiter_acq")
        },
    )
    assert isinstance(strat, GPStrategy) and strat.settings.prior == PRIOR
    history = _history(d, 8)
    problem = strat._problem(history)
    sur, _, _ = strat._fit(problem, seed=0)
    assert sur.prior is not None and sur.prior.name == PRIOR
    assert sur.prior.outcomes == ("yield_pct", "cost_eur")  # model order
    weights = sur.prior_weights()
    assert set(weights) == {"yield_pct", "cost_eur"}
    assert 0.5 < weights["cost_eur"] < 1.5  # the cost expectation is exact
    quality = strat.diagnose(history)
    assert quality["cost_eur"]["prior_weight"] == pytest.approx(weights["cost_eur"])
    assert quality["purity_pct"]["prior_weight"] is None
    props = strat.propose(_history(d, 8, pending=1), 2)
    assert [p.info["reason"] for p in props] == ["model: LogEHVI"] * 2
    plain = GPStrategy(
        CampaignDefinition.from_dict({**toy_dict, "gp": {}}), settings=FAST
    )
    assert plain._fit(plain._problem(history), seed=0)[0].prior is None


def _design(d: CampaignDefinition, n: int, *, box: bool = False) -> np.ndarray:
    """The first ``n`` initial-design points of ``d``'s gp strategy, unit cube."""
    strat = make_strategy("gp", d)
    empty = History(definition=d, complete=(), failed=(), pending=(), n_total=0)
    props = strat.propose(empty, n)  # type: ignore[attr-defined]
    reason = f"initial design: 0 of {d.n_initial} space-filling points measured"
    if box:
        reason += ", around the expected front"
    assert [p.info["reason"] for p in props] == [reason] * n
    return d.space.encode([p.params for p in props])


def test_design_region_prior_puts_the_design_around_the_expected_front(
    toy_dict: dict[str, Any],
) -> None:
    toy_dict["initial_design"] = 16
    toy_dict["gp"] = {"prior": PRIOR, "design_region": "prior"}
    boxed = _design(CampaignDefinition.from_dict(toy_dict), 16, box=True)
    toy_dict["gp"] = {"prior": PRIOR}
    cube = _design(CampaignDefinition.from_dict(toy_dict), 16)
    # the toy expectation's yield peaks at 55 C whatever the concentration, and
    # cost and yield both rise with it: its front is near 55 C at every
    # concentration (44.7-60.1 C among 8192 candidates: at the lowest
    # concentrations the cheapest setting is on it at any temperature)
    temp = 20.0 + 60.0 * boxed[:, 0]
    assert temp.min() >= 44.6 and temp.max() <= 60.2
    assert boxed[:, 1].min() < 0.1 and boxed[:, 1].max() > 0.9  # conc: whole range
    cube_temp = 20.0 + 60.0 * cube[:, 0]
    assert cube_temp.min() < 30.0 and cube_temp.max() > 70.0  # the cube: all of it
    # the same sequence, mapped into the box
    from doe.strategies.gp import CampaignExpectation, load_prior

    d = CampaignDefinition.from_dict(toy_dict)
    box = CampaignExpectation(load_prior(PRIOR), d, PRIOR).front_box()
    assert box is not None
    np.testing.assert_allclose(boxed, box[0] + (box[1] - box[0]) * cube, atol=1e-6)


def test_design_region_prior_keeps_the_cube_when_nothing_is_expected_to_qualify(
    toy_dict: dict[str, Any],
) -> None:
    toy_dict["initial_design"] = 8
    toy_dict["objectives"][1]["threshold"] = 0.5  # the expected cost is >= 1 EUR
    toy_dict["gp"] = {"prior": PRIOR, "design_region": "prior"}
    boxed = _design(CampaignDefinition.from_dict(toy_dict), 8)
    toy_dict["gp"] = {"prior": PRIOR}
    np.testing.assert_allclose(
        boxed, _design(CampaignDefinition.from_dict(toy_dict), 8), atol=1e-9
    )


def test_design_region_prior_needs_an_expectation_of_every_objective(
    toy_dict: dict[str, Any],
) -> None:
    from doe.exceptions import DefinitionError, InvalidArgumentError

    toy_dict["gp"] = {"design_region": "prior"}
    with pytest.raises(
        DefinitionError,
        match=r"design_region='prior' needs an expectation: set prior = "
        r"'module:function', or design_region = 'cube'",
    ):
        CampaignDefinition.from_dict(toy_dict)
    with pytest.raises(InvalidArgumentError, match=r"design_region='prior' needs"):
        GPStrategy(
            CampaignDefinition.from_dict(TOY),
            settings=GPSettings(design_region="prior"),
        )
    toy_dict["gp"] = {"design_region": "sphere"}
    with pytest.raises(DefinitionError, match=r"design_region='sphere' is not known"):
        CampaignDefinition.from_dict(toy_dict)
    toy_dict["gp"] = {"prior": "tests.doe.priors:cost_only", "design_region": "prior"}
    d = CampaignDefinition.from_dict(toy_dict)
    with pytest.raises(
        InvalidArgumentError,
        match=r"needs the expectation 'tests.doe.priors:cost_only' to give every "
        r"objective; it gives none of yield_pct\. Add them to it, or set "
        r"design_region = 'cube'",
    ):
        _design(d, 2)


@pytest.mark.parametrize(
    ("path", "match"),
    [
        pytest.param(
            "tests.doe.nowhere:f",
            r"prior='tests.doe.nowhere:f': cannot import 'tests.doe.nowhere'",
            id="module",
        ),
        pytest.param(
            "tests.doe.priors:nothing",
            r"'tests.doe.priors' has no function 'nothing'; give 'module:function'",
            id="function",
        ),
    ],
)
def test_a_prior_that_cannot_be_loaded_is_named(
    toy_dict: dict[str, Any], path: str, match: str
) -> None:
    from doe.exceptions import InvalidArgumentError

    toy_dict["gp"] = {"prior": path}
    d = CampaignDefinition.from_dict(toy_dict)  # a stored campaign still loads
    with pytest.raises(InvalidArgumentError, match=match):
        make_strategy("gp", d)


@pytest.mark.parametrize(
    ("function", "match"),
    [
        pytest.param(
            "unknown_outcome",
            r"returned 'power_w', which is no outcome of campaign 'toy'; outcomes: "
            r"yield_pct, cost_eur, purity_pct",
            id="unknown",
        ),
        pytest.param("short", r"must give 'cost_eur' as 8 finite numbers", id="short"),
        pytest.param("not_a_dict", r"returned list; it must return a dict", id="type"),
        pytest.param(
            "only_recorded",
            r"gives none of the modelled outcomes \(yield_pct, cost_eur\); it "
            r"returned \['purity_pct'\]",
            id="none-modelled",
        ),
    ],
)
def test_a_bad_prior_function_is_named(
    toy_dict: dict[str, Any], function: str, match: str
) -> None:
    from doe.exceptions import InvalidArgumentError

    if function == "only_recorded":
        toy_dict["limits"] = []  # purity is then recorded, not modelled
    toy_dict["gp"] = {"prior": f"tests.doe.priors:{function}"}
    strat = make_strategy("gp", CampaignDefinition.from_dict(toy_dict))
    with pytest.raises(InvalidArgumentError, match=match):
        strat.propose(_history(strat.definition, 8), 1)  # type: ignore[attr-defined]


def _grid_with_a_lucky_measurement(
    toy_dict: dict[str, Any], sqlite_url: str
) -> tuple[Any, int]:
    """25 toy cells measured with a yield scatter of 2 %; one reads 20 % too high."""
    from doe import Campaign

    toy_dict.update(strategy="sobol", gp={"noise_share": 0.5})
    c = Campaign.create(toy_dict, storage=sqlite_url, tracking=False)
    rng = np.random.default_rng(0)
    lucky = -1
    for temp in (45.0, 50.0, 55.0, 60.0, 65.0):
        for conc in (0.2, 0.25, 0.3, 0.35, 0.4):
            settings = {"temp_c": temp, "conc_mol_l": conc}
            measured = toy_outcomes(settings)
            is_lucky = (temp, conc) == (55.0, 0.3)
            measured["yield_pct"] += 20.0 if is_lucky else rng.normal(0.0, 2.0)
            number = c.add(settings, measured)
            lucky = number if is_lucky else lucky
    return c, lucky


def test_the_models_front_is_not_decided_by_a_lucky_measurement(
    toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    c, lucky = _grid_with_a_lucky_measurement(toy_dict, sqlite_url)
    assert lucky in set(c.pareto()["trial"])  # 94 % where its neighbours read 72-77
    front = c.pareto(model=True)
    assert lucky not in set(front["trial"])
    assert {"est_yield_pct", "est_yield_pct_std", "est_purity_pct"} <= set(front)
    assert (front["est_yield_pct_std"] > 0).all()
    # The front is that of the estimates, limits checked on them.
    complete = [t for t in c.trials() if t.state == "complete"]
    strategy = make_strategy("gp", c.definition)
    assert isinstance(strategy, GPStrategy)
    est = strategy.estimate(c.history(), [t.params for t in complete])
    true_yield = toy_outcomes(complete[lucky].params)["yield_pct"]
    assert abs(est["yield_pct"][0][lucky] - true_yield) < 10.0  # measured: 20 off
    ok = np.flatnonzero(est["purity_pct"][0] >= 90.0)
    signed = np.column_stack([est["yield_pct"][0], -est["cost_eur"][0]])[ok]
    assert set(front["trial"]) == {complete[i].number for i in ok[pareto_mask(signed)]}


def test_the_models_front_is_empty_before_the_model_can_be_fitted(
    toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    from doe import Campaign

    toy_dict["strategy"] = "sobol"
    c = Campaign.create(toy_dict, storage=sqlite_url, tracking=False)
    for temp in (30.0, 60.0, 75.0):
        settings = {"temp_c": temp, "conc_mol_l": 0.5}
        c.add(settings, toy_outcomes(settings))
    assert len(c.pareto()) >= 1
    front = c.pareto(model=True)
    assert front.empty and "trial" in front.columns


def _toy_campaign_with_a_purity_limit(
    toy_dict: dict[str, Any], sqlite_url: str, n: int
) -> Any:
    """``n`` exact toy cells on a Sobol design; purity >= 96 holds for 30-70 C."""
    from doe import Campaign

    toy_dict.update(strategy="sobol", limits=[
        {"name": "purity_pct", "op": ">=", "value": 96.0}
    ])  # fmt: skip
    c = Campaign.create(toy_dict, storage=sqlite_url, tracking=False)
    space = c.definition.space
    for settings in space.decode(space.sobol(n, seed=1)):
        c.add(settings, toy_outcomes(settings))
    return c


def test_predict_says_what_the_model_expects_of_untried_settings(
    toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    c = _toy_campaign_with_a_purity_limit(toy_dict, sqlite_url, 16)
    measured = next(t for t in c.trials() if t.state == "complete")
    asked = [
        {"temp_c": 50.0, "conc_mol_l": 0.3},  # inside the limit, mid front
        {"temp_c": 20.0, "conc_mol_l": 0.3},  # purity 94.5 < 96
        {"temp_c": 25.0, "conc_mol_l": 0.5},  # poor yield for its cost
        dict(measured.params),
    ]
    frame = c.predict(asked)
    assert len(frame) == 4
    assert frame.loc[0, "temp_c"] == 50.0 and frame.loc[0, "conc_mol_l"] == 0.3
    for i, settings in enumerate(asked):
        truth = toy_outcomes(settings)
        assert frame.loc[i, "est_yield_pct"] == pytest.approx(truth["yield_pct"], abs=5)
        assert frame.loc[i, "est_cost_eur"] == pytest.approx(truth["cost_eur"], abs=0.5)
    assert (frame["est_yield_pct_std"] > 0).all()
    assert frame.loc[0, "p_limits"] > 0.9 and frame.loc[1, "p_limits"] < 0.1
    assert frame.loc[3, "nearest_trial"] == measured.number
    assert frame.loc[3, "nearest_distance"] == pytest.approx(0.0, abs=1e-9)
    assert frame.loc[0, "nearest_distance"] > 0.0
    # a poor setting is beaten by a measured one (by the model's estimates) ...
    better = frame.loc[2, "dominated_by"]
    assert isinstance(better, int)
    cells = {t.number: t for t in c.trials()}
    beaten = toy_outcomes(asked[2])
    winner = toy_outcomes(cells[better].params)
    assert winner["yield_pct"] >= beaten["yield_pct"] - 5
    assert winner["cost_eur"] <= beaten["cost_eur"] + 0.5
    # ... a setting on the true front is not
    on_front = c.predict([{"temp_c": 60.0, "conc_mol_l": 0.5}])
    assert on_front.loc[0, "dominated_by"] is None
    # what the gp strategy would estimate, the same fit
    strategy = make_strategy("gp", c.definition)
    assert isinstance(strategy, GPStrategy)
    est = strategy.estimate(c.history(), asked)
    assert frame["est_yield_pct"].tolist() == pytest.approx(
        est["yield_pct"][0].tolist()
    )


def test_predict_refuses_bad_settings_and_too_few_measurements(
    toy_dict: dict[str, Any], sqlite_url: str
) -> None:
    from doe.exceptions import (
        InvalidArgumentError,
        InvalidSettingsError,
        NotEnoughDataError,
    )

    c = _toy_campaign_with_a_purity_limit(toy_dict, sqlite_url, 3)
    ok = {"temp_c": 50.0, "conc_mol_l": 0.3}
    with pytest.raises(NotEnoughDataError, match=r"has 3 measured experiment\(s\); "
                       "the model needs at least 4"):  # fmt: skip
        c.predict([ok])
    with pytest.raises(InvalidSettingsError, match=r"Unknown parameter 'tmp_c' in row 2"
                       r"\. Did you mean 'temp_c'\?"):  # fmt: skip
        c.predict([ok, {"tmp_c": 50.0, "conc_mol_l": 0.3}])
    with pytest.raises(InvalidSettingsError, match=r"'conc_mol_l' must lie in "
                       r"\[0.01, 1\] mol/L; got 2"):  # fmt: skip
        c.predict([{"temp_c": 50.0, "conc_mol_l": 2.0}])
    with pytest.raises(InvalidArgumentError, match="at least one setting"):
        c.predict([])
    assert len(c.trials()) == 3  # nothing written
