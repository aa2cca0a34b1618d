"""Strategy variants: gp[key=value,...] in replays."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from doe import Campaign
from doe.exceptions import DoeError
from doe.replay import (
    ReplayConfig,
    SweepSettingsError,
    parse_strategy,
    run_replay,
    run_sweep,
    split_strategies,
)
from tests.doe.replay import toy_sweep, write_toy_toml

TOY = "tests.doe.replay:ToyLab"


def _sweep(toy: Path, out: Path, **kwargs: Any) -> Any:
    """A tiny sweep of the toy lab: 6 experiments, 2 channels, 1 seed."""
    return toy_sweep(toy, out, **{"budget": 6, "channels": 2, "seeds": 1, **kwargs})


def test_a_plain_name_is_its_own_label() -> None:
    v = parse_strategy(" tpe ")
    assert (v.name, v.options, v.label, v.slug) == ("tpe", (), "tpe", "tpe")


def test_variant_settings_are_parsed_and_labelled_canonically() -> None:
    v = parse_strategy("gp[trust_length=off, tail_floor=0.05,mean=constant]")
    assert v.name == "gp"
    assert v.gp_options == {
        "mean": "constant",
        "tail_floor": 0.05,
        "trust_length": None,
    }
    assert v.label == "gp[mean=constant,tail_floor=0.05,trust_length=off]"
    same = parse_strategy('gp[ mean = "constant", trust_length=off,tail_floor=5e-2]')
    assert same.label == v.label and same.slug == v.slug
    assert re.fullmatch(r"gp-[0-9a-f]{8}", v.slug)
    assert parse_strategy(v.label) == v  # a label reads back as itself
    noisy = parse_strategy("gp[noise_share=0.6]")
    assert noisy.gp_options == {"noise_share": 0.6}
    assert parse_strategy("gp[noise_share=off]").gp_options == {"noise_share": None}
    flags = parse_strategy("gp[impute_failures=true,num_restarts=3]")
    assert flags.gp_options == {"impute_failures": True, "num_restarts": 3}
    assert flags.label == "gp[impute_failures=true,num_restarts=3]"
    # settings that need others (the expectation) are checked once merged with
    # the campaign's, when the replay's campaign is made
    boxed = parse_strategy("gp[design_region=prior]")
    assert boxed.gp_options == {"design_region": "prior"}
    assert (
        parse_strategy("gp[num_restarts=4]").slug
        != parse_strategy("gp[num_restarts=5]").slug
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        pytest.param(
            "gq", r"Unknown strategy 'gq' in 'gq'; choose from gp,", id="name"
        ),
        pytest.param(
            "tpe[n_startup=3]", r"only gp takes settings in brackets", id="not-tunable"
        ),
        pytest.param("gp[tail_floor]", r"'tail_floor' is not key=value", id="no-value"),
        pytest.param("gp[=1]", r"'=1' is not key=value", id="no-key"),
        pytest.param(
            "gp[num_restarts=2,num_restarts=3]",
            r"sets 'num_restarts' twice",
            id="twice",
        ),
        pytest.param(
            "gp[tail_flor=0.1]",
            r"Unknown key 'tail_flor'.*Did you mean 'tail_floor'",
            id="typo",
        ),
        pytest.param(
            "gp[tail_floor=-1]",
            r"tail_floor must be a number >= 0 .* got -1",
            id="value",
        ),
        pytest.param("gp[]", r"empty brackets", id="empty"),
        pytest.param("gp[a=1", r"not a strategy name or name\[key=value", id="open"),
    ],
)
def test_bad_variants_are_named(spec: str, match: str) -> None:
    with pytest.raises(DoeError, match=match):
        parse_strategy(spec)


def test_split_keeps_commas_inside_brackets() -> None:
    assert split_strategies("gp, gp[tail_floor=0.05,mean=constant],tpe,") == [
        "gp",
        "gp[tail_floor=0.05,mean=constant]",
        "tpe",
    ]
    for bad in ("gp[a=1,tpe", "gp],tpe"):
        with pytest.raises(DoeError, match="unbalanced square brackets"):
            split_strategies(bad)


def test_a_variant_replay_runs_its_campaign_with_the_settings(tmp_path: Path) -> None:
    toy = write_toy_toml(tmp_path)
    storage = f"sqlite:///{tmp_path}/replay.db"
    spec = "gp[trust_length=off,num_restarts=2]"
    result = run_replay(
        TOY,
        ReplayConfig(spec, seed=1, budget=6, batch=2, channels=2),
        campaign_file=toy,
        storage=storage,
    )
    label = "gp[num_restarts=2,trust_length=off]"
    assert set(result.trajectory["strategy"]) == {label}
    campaign = Campaign.load(result.campaign, storage, tracking=False)
    assert result.campaign.startswith("replay-gp-")
    assert campaign.definition.strategy == "gp"
    assert campaign.definition.gp_options == {"num_restarts": 2, "trust_length": None}


def test_a_sweep_compares_variants_in_one_table(tmp_path: Path) -> None:
    toy = write_toy_toml(tmp_path)
    out = tmp_path / "sweep"
    strategies = ["sobol", "gp[num_restarts=2]", "gp[ num_restarts = 2 ]"]
    result = _sweep(toy, out, strategies=strategies)
    summary = pd.read_csv(result.files["summary"])
    assert list(summary["strategy"]) == [
        "sobol",
        "gp[num_restarts=2]",
        "best possible set",
    ]
    runs = sorted(p.name for p in (out / "runs").iterdir())
    slug = parse_strategy("gp[num_restarts=2]").slug
    assert runs == sorted(["sobol-0.csv", f"{slug}-0.csv"])
    with pytest.raises(SweepSettingsError, match=r"Unknown key 'restarts'"):
        run_sweep(TOY, campaign_file=toy, strategies=["gp[restarts=2]"], out=out)


def test_variant_runs_are_logged_under_their_label(
    tmp_path: Path, mlflow_tmp_store: str
) -> None:
    from mlflow import MlflowClient

    toy = write_toy_toml(tmp_path)
    toy.write_text(toy.read_text() + '\n[gp]\nmean = "constant"\n')
    result = _sweep(
        toy, tmp_path / "sweep", strategies=["gp[num_restarts=2]"], tracking=True
    )
    assert result.tracking is not None
    client = MlflowClient(tracking_uri=mlflow_tmp_store)
    parent = client.get_run(result.tracking.run_id)
    assert parent.data.params["strategies"] == "gp[num_restarts=2]"
    assert parent.data.params["gp.mean"] == "constant"  # the file's [gp] table
    assert result.gp_settings == {"mean": "constant"}
    assert "gp_num_restarts_2/hv_6_median" in parent.data.metrics
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert [c.data.tags["doe.strategy"] for c in children] == ["gp[num_restarts=2]"]
    assert children[0].info.run_name == "gp[num_restarts=2]-seed0"


def test_a_changed_prior_function_is_another_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "labprior_v.py"
    module.write_text(
        "def expected(s):\n    return {'cost_eur': 1.0 + 8.0 * s['conc_mol_l']}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = write_toy_toml(tmp_path)
    toy.write_text(toy.read_text() + '\n[gp]\nprior = "labprior_v:expected"\n')
    first = _sweep(toy, tmp_path / "sweep", strategies=["sobol"])
    settings = json.loads(first.files["settings"].read_text())
    assert len(settings["gp_prior_source"]) == 12
    again = _sweep(toy, tmp_path / "sweep", strategies=["sobol"])
    assert again.n_run == 0  # same code: resumed
    module.write_text(
        "def expected(s):\n    return {'cost_eur': 2.0 + 8.0 * s['conc_mol_l']}\n"
    )
    with pytest.raises(SweepSettingsError, match=r"other settings \(gp_prior_source: "):
        _sweep(toy, tmp_path / "sweep", strategies=["sobol"])
