from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from doe.definition import CampaignDefinition, definition_changes
from doe.exceptions import DefinitionError, IncompatibleDefinitionError
from tests.conftest import CELL_TOML


def test_cell_campaign_file_is_valid() -> None:
    d = CampaignDefinition.from_toml(CELL_TOML)
    assert d.name == "li2s-si-gpe"
    assert d.space.names == [
        "co_precursor_g",
        "nitridation_temp_c",
        "li2s_loading_mg_cm2",
        "eo_li_ratio",
        "np_ratio",
    ]
    assert [o.name for o in d.objectives] == [
        "specific_energy_wh_kg",
        "retention_pct",
        "safety_score",
    ]
    assert [str(lim) for lim in d.limits] == ["safety_score >= 70"]
    assert d.n_initial == 10


def test_roundtrip_through_dict_and_json(toy_dict: dict[str, Any]) -> None:
    d = CampaignDefinition.from_dict(toy_dict)
    assert CampaignDefinition.from_dict(d.to_dict()) == d
    assert CampaignDefinition.from_json(d.to_json()) == d
    assert d.hash == CampaignDefinition.from_json(d.to_json()).hash
    assert d.n_initial == 4


@pytest.mark.parametrize(
    ("change", "match"),
    [
        pytest.param({"name": "Bad Name"}, "must be a slug", id="name"),
        pytest.param({"strategy": "gpp"}, "Did you mean 'gp'", id="strategy"),
        pytest.param({"initial_design": 0}, "initial_design.*>= 1", id="initial"),
        pytest.param({"seed": -1}, "seed.*>= 0", id="seed"),
        pytest.param(
            {"limits": [{"name": "purity", "op": ">=", "value": 1}]},
            "unknown outcome.*Did you mean 'purity_pct'",
            id="limit-name",
        ),
        pytest.param({"objectives": []}, "at least one objective", id="no-objective"),
        pytest.param({"parameters": "x"}, "list of tables", id="params-type"),
        pytest.param({"colour": "red"}, "Unknown key 'colour'", id="unknown-key"),
        pytest.param({"suggestion_ttl_days": 0}, "suggestion_ttl_days", id="ttl"),
        pytest.param({"version": 9}, "schema version 9", id="version"),
    ],
)
def test_bad_definitions_are_named(
    toy_dict: dict[str, Any], change: dict, match: str
) -> None:
    toy_dict.update(change)
    with pytest.raises(DefinitionError, match=match):
        CampaignDefinition.from_dict(toy_dict)


def test_objective_noise_sd_round_trips_and_is_checked(
    toy_dict: dict[str, Any],
) -> None:
    toy_dict["objectives"][0]["noise_sd"] = 2
    d = CampaignDefinition.from_dict(toy_dict)
    assert d.objectives[0].noise_sd == 2.0 and d.objectives[1].noise_sd is None
    assert CampaignDefinition.from_dict(d.to_dict()) == d
    # a lab may learn its repeatability later: changing it keeps the campaign
    CampaignDefinition.from_dict(
        {
            **toy_dict,
            "objectives": [
                dict(toy_dict["objectives"][0], noise_sd=3),
                *toy_dict["objectives"][1:],
            ],
        }
    ).check_compatible(d)
    for bad, match in [
        (-1.0, r"'yield_pct' noise_sd must be a standard deviation > 0 in %; got -1.0"),
        ("lots", r"'yield_pct' noise_sd"),
        (float("nan"), r"'yield_pct' noise_sd"),
    ]:
        toy_dict["objectives"][0]["noise_sd"] = bad
        with pytest.raises(DefinitionError, match=match):
            CampaignDefinition.from_dict(toy_dict)


def test_objective_valid_range_round_trips_and_is_checked(
    toy_dict: dict[str, Any],
) -> None:
    toy_dict["objectives"][0]["valid_range"] = [0, 100]
    d = CampaignDefinition.from_dict(toy_dict)
    assert d.objectives[0].valid_range == (0.0, 100.0)
    assert d.objectives[1].valid_range is None
    assert CampaignDefinition.from_dict(d.to_dict()) == d
    assert d.objectives[0].out_of_range(100.5) and not d.objectives[0].out_of_range(0)
    assert not d.objectives[1].out_of_range(1e9)
    # a lab may widen it later: the campaign is kept
    CampaignDefinition.from_dict(
        {
            **toy_dict,
            "objectives": [
                dict(toy_dict["objectives"][0], valid_range=[0, 120]),
                *toy_dict["objectives"][1:],
            ],
        }
    ).check_compatible(d)
    for bad, match in [
        ([0], r"'yield_pct' valid_range must be \[low, high\] in %; got \[0\]"),
        ("0-100", r"'yield_pct' valid_range must be \[low, high\]"),
        ([0, "lots"], r"'yield_pct' valid_range must be a number; got 'lots'"),
        ([100, 0], r"'yield_pct' valid_range must have low < high; got \[100, 0\] %"),
        (
            [5, 100],
            r"'yield_pct' threshold 0 % lies outside its valid_range \[5, 100\]",
        ),
    ]:
        toy_dict["objectives"][0]["valid_range"] = bad
        with pytest.raises(DefinitionError, match=match):
            CampaignDefinition.from_dict(toy_dict)


def test_bad_parameter_key_names_the_table(toy_dict: dict[str, Any]) -> None:
    toy_dict["parameters"][1]["hi"] = 3
    with pytest.raises(DefinitionError, match=r"Unknown key 'hi' in parameters\[1\]"):
        CampaignDefinition.from_dict(toy_dict)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[parameters]\n')
    with pytest.raises(DefinitionError, match="bad.toml is not valid TOML"):
        CampaignDefinition.from_toml(bad)
    with pytest.raises(DefinitionError, match="does not exist"):
        CampaignDefinition.from_toml(tmp_path / "missing.toml")


def test_compatibility(toy_dict: dict[str, Any]) -> None:
    old = CampaignDefinition.from_dict(toy_dict)
    ok = dict(toy_dict, description="new words", strategy="tpe")
    old.check_compatible(CampaignDefinition.from_dict(ok))
    # bounds may move (the campaign checks that its experiments still fit) ...
    moved = dict(toy_dict)
    moved["parameters"] = [dict(p) for p in toy_dict["parameters"]]
    moved["parameters"][0]["high"] = 90.0
    old.check_compatible(CampaignDefinition.from_dict(moved))
    assert [
        str(c) for c in definition_changes(old, CampaignDefinition.from_dict(moved))
    ] == ["parameters.temp_c.high: 80 -> 90"]
    # ... but what a knob is may not: its name, order, unit, scale
    for key, value in (("name", "heat_c"), ("unit", "K"), ("log", True)):
        changed = dict(toy_dict)
        changed["parameters"] = [dict(p) for p in toy_dict["parameters"]]
        changed["parameters"][0][key] = value
        with pytest.raises(IncompatibleDefinitionError, match="knobs differ"):
            old.check_compatible(CampaignDefinition.from_dict(changed))
    flipped = dict(toy_dict)
    flipped["objectives"] = [dict(o) for o in toy_dict["objectives"]]
    flipped["objectives"][1]["direction"] = "maximize"
    with pytest.raises(IncompatibleDefinitionError, match="objectives differ"):
        old.check_compatible(CampaignDefinition.from_dict(flipped))


def test_definition_changes_name_each_field(toy_dict: dict[str, Any]) -> None:
    old = CampaignDefinition.from_dict(toy_dict)
    new = copy.deepcopy(toy_dict)
    new["objectives"][1]["valid_range"] = [0.0, 50.0]
    new["limits"] = [{"name": "purity_pct", "op": ">=", "value": 92.0},
                     {"name": "yield_pct", "op": ">=", "value": 10.0}]  # fmt: skip
    new["outcomes"]["color_index"] = "-"
    new["gp"] = {"tail_floor": 0.05}
    changes = definition_changes(old, CampaignDefinition.from_dict(new))
    assert [str(c) for c in changes] == [
        "objectives.cost_eur.valid_range: (none) -> [0, 50]",
        "limits.purity_pct >=: 90 -> 92",
        "limits.yield_pct >=: (none) -> 10",
        "outcomes.color_index: (none) -> -",
        "gp.tail_floor: (none) -> 0.05",
    ]
    assert definition_changes(old, old) == []


def test_gp_table_round_trips_and_keeps_old_hashes(toy_dict: dict[str, Any]) -> None:
    plain = CampaignDefinition.from_dict(toy_dict)
    assert plain.gp == () and "gp" not in plain.to_dict()
    toy_dict["gp"] = {"tail_floor": 0.05, "trust_length": "off", "num_restarts": 4}
    d = CampaignDefinition.from_dict(toy_dict)
    assert d.gp_options == {"tail_floor": 0.05, "trust_length": None, "num_restarts": 4}
    assert d.to_dict()["gp"] == {
        "num_restarts": 4,
        "tail_floor": 0.05,
        "trust_length": "off",
    }
    assert d.gp == (("num_restarts", 4), ("tail_floor", 0.05), ("trust_length", None))
    assert CampaignDefinition.from_dict(d.to_dict()) == d
    assert CampaignDefinition.from_json(d.to_json()) == d
    assert d.hash != plain.hash
    d.check_compatible(plain)  # modelling settings may change mid-campaign
    plain.check_compatible(d)


def test_gp_table_in_a_toml_file(tmp_path: Path) -> None:
    text = CELL_TOML.read_text(encoding="utf-8")
    path = tmp_path / "c.toml"
    prior = 'prior = "campaigns.li2s_si.prior:expected"'
    assert prior in text  # the cell campaign's own [gp] table
    assert CampaignDefinition.from_toml(CELL_TOML).gp_options == {
        "prior": "campaigns.li2s_si.prior:expected",
        "trust_length": None,  # "off" in the file: TOML has no null
        "design_region": "prior",
        "noise_share": 0.6,
    }
    path.write_text(
        text.replace(prior, 'tail_floor = 0.05\nmean = "constant"').replace(
            'design_region = "prior"', ""
        )
    )
    d = CampaignDefinition.from_toml(path)
    assert d.gp_options == {
        "tail_floor": 0.05,
        "mean": "constant",
        "trust_length": None,
        "noise_share": 0.6,
    }


@pytest.mark.parametrize(
    ("table", "match"),
    [
        pytest.param(
            {"tail_flor": 0.05},
            r"Unknown key 'tail_flor' in \[gp\]\. Did you mean 'tail_floor'\?",
            id="typo",
        ),
        pytest.param(
            {"device": "cuda"}, r"Unknown key 'device' in \[gp\].*Allowed:", id="device"
        ),
        pytest.param(
            {"tail_floor": -1},
            r"\[gp\]: GP setting tail_floor must be a number >= 0 .* got -1",
            id="negative",
        ),
        pytest.param(
            {"trust_length": "none"},
            r"\[gp\]\.trust_length = 'none': give a number or 'off'",
            id="not-off",
        ),
        pytest.param(
            {"mean": "cubic"},
            r"\[gp\]: GP setting mean='cubic' is not known",
            id="mean",
        ),
        pytest.param(
            {"impute_failures": "yes"},
            r"impute_failures must be true or false; got 'yes'",
            id="bool",
        ),
        pytest.param([1, 2], r"\[gp\] must be a table of GP settings", id="not-table"),
        pytest.param(
            {"prior": "prior.py"},
            r"prior must be 'module:function' .* got 'prior.py'",
            id="prior-path",
        ),
    ],
)
def test_bad_gp_table_is_named(
    toy_dict: dict[str, Any], table: Any, match: str
) -> None:
    toy_dict["gp"] = table
    with pytest.raises(DefinitionError, match=match):
        CampaignDefinition.from_dict(toy_dict)
