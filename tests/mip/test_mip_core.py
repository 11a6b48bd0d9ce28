"""Minimum Importance Pruning: knob grids and spaces, importance on a known function, the cost
model, tabular MIP on synthetic records, bad input and the ``bpe.json`` export."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bpe.config import KNOBS, BPEConfig
from bpe.errors import BPEError, ConfigError, DataError
from bpe.mip import (
    KNOB_PRESETS,
    KnobGrid,
    KnobSpace,
    MIPSettings,
    TabularEvaluator,
    knob_preset,
    load_knobs,
    random_settings_search,
    read_tabular_records,
    run_mip,
)
from bpe.mip.cost import CostModel
from bpe.mip.export import mip_document, write_mip
from bpe.mip.importance import IMPORTANCE_METHODS, knob_importance, partial_dependence
from bpe.mip.knobs import BLEND_KNOBS

from support import TAB_KNOBS, write_records

# -- KnobGrid / KnobSpace --------------------------------------------------------------------


@pytest.mark.parametrize(
    "cost, values, ranks, cheapest",
    [
        ("increasing", (4, 1, 16, 2), [2, 0, 3, 1], 1),
        ("decreasing", (64, 256, 128), [2, 0, 1], 256),
        ("order", ("fp32", "bf16", "fp16"), [0, 1, 2], "fp32"),
        ("none", (0.1, 0.05, 0.2), [0, 0, 0], 0.1),
    ],
)
def test_grid_cost_rank_and_cheapest(cost, values, ranks, cheapest):
    scale = "categorical" if cost == "order" else "log"
    grid = KnobGrid("k", values, cost, scale)
    assert [grid.cost_rank(v) for v in values] == ranks
    assert grid.cheapest() == cheapest


def test_grid_order_cost_on_numbers_keeps_listed_order():
    grid = KnobGrid("cutout", (16, 0, 8), "order", "linear")
    assert grid.cheapest() == 16
    assert [grid.cost_rank(v) for v in (16, 0, 8)] == [0, 1, 2]


def test_grid_encoding_log_linear_categorical():
    assert KnobGrid("a", (1, 4, 16), scale="log").encode(16) == pytest.approx(4.0)
    assert KnobGrid("a", (1, 4, 16), scale="linear").encode(4) == pytest.approx(4.0)
    cat = KnobGrid("p", ("fp32", "bf16"), "order", "categorical")
    assert cat.encode("bf16") == 1.0
    assert KnobGrid("a", (2, 8, 32), scale="log").bounds() == (1.0, 5.0)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(name="epochs", values=()), "empty grid"),
        (dict(name="epochs", values=(2, 4, 2)), "twice"),
        (dict(name="epochs", values=(2, 4), cost="cheap"), "cost must be one of"),
        (dict(name="epochs", values=(2, 4), scale="cubic"), "scale must be one of"),
        (dict(name="precision", values=("fp32", "bf16"), scale="log"), "categorical"),
        (dict(name="epochs", values=(0, 2), scale="log"), "log scale"),
        (dict(name="precision", values=("fp32", "bf16"), cost="increasing", scale="categorical"), "order"),
    ],
)
def test_bad_grid_raises_config_error_naming_knob(kwargs, needle):
    with pytest.raises(ConfigError) as err:
        KnobGrid(**kwargs)
    assert f"'{kwargs['name']}'" in str(err.value)
    assert needle in str(err.value)


def test_space_rejects_seed_empty_and_repeated_knob():
    with pytest.raises(ConfigError, match="seed"):
        KnobSpace([KnobGrid("epochs", (2, 4)), KnobGrid("seed", (0, 1), scale="linear")])
    with pytest.raises(ConfigError, match="seed"):
        KnobSpace([KnobGrid("seed", (1, 2), scale="linear")], base=BPEConfig())
    with pytest.raises(ConfigError, match="empty"):
        KnobSpace([])
    with pytest.raises(ConfigError, match="'epochs' is given twice"):
        KnobSpace([KnobGrid("epochs", (2, 4)), KnobGrid("epochs", (8,))])


@pytest.mark.parametrize("typo, suggestion", [("epoch", "epochs"), ("cutout_length", "cutout"),
                                              ("chanels", "channels")])
def test_unknown_live_knob_suggests_close_name(typo, suggestion):
    with pytest.raises(ConfigError) as err:
        KnobSpace([KnobGrid(typo, (1, 2))], base=BPEConfig())
    text = str(err.value)
    assert f"unknown knob '{typo}'" in text
    assert f"did you mean '{suggestion}'" in text


def test_unknown_tabular_knob_is_fine():
    space = KnobSpace([KnobGrid("layers", (6, 20))])
    assert space.names == ["layers"]
    assert space.base is None
    with pytest.raises(ConfigError):
        space.to_config({"layers": 6})


@pytest.mark.parametrize(
    "grid",
    [
        KnobGrid("epochs", (0, 2), "increasing", "linear"),
        KnobGrid("epochs", (2, 2000), "increasing", "log"),
        KnobGrid("precision", ("fp32", "fp8"), "order", "categorical"),
        KnobGrid("data_fraction", (0.5, 1.5), "increasing", "log"),
        KnobGrid("report", ("valid_accuracy", "test_accuracy"), "none", "categorical"),
    ],
    ids=lambda g: f"{g.name}-{g.values[-1] if g.name != 'epochs' else g.values}",
)
def test_live_choice_outside_knob_range(grid):
    with pytest.raises(ConfigError) as err:
        KnobSpace([grid], base=BPEConfig())
    assert f"knob '{grid.name}'" in str(err.value)
    assert "outside the valid range" in str(err.value)


def test_live_space_accepts_int_for_float_knob_and_builds_config():
    space = KnobSpace([KnobGrid("learning_rate", (1, 0.1), "none", "log"),
                       KnobGrid("epochs", (1, 3), "increasing", "log")], base=BPEConfig(channels=4))
    cfg = space.to_config({"learning_rate": 1, "epochs": 3})
    assert isinstance(cfg.learning_rate, float) and cfg.learning_rate == 1.0
    assert cfg.epochs == 3 and cfg.channels == 4
    assert space.valid({"learning_rate": 0.1, "epochs": 1})


def test_space_views_and_sampling():
    space = KnobSpace([KnobGrid("epochs", (2, 4, 8)), KnobGrid("batch_size", (64, 128), "decreasing"),
                       KnobGrid("report", ("valid_accuracy", "tse"), "none", "categorical")], base=BPEConfig())
    assert space.size() == 12
    assert space.cheapest() == {"epochs": 2, "batch_size": 128, "report": "valid_accuracy"}
    assert space.derived("report") and not space.derived("epochs")
    np.testing.assert_allclose(space.encode({"epochs": 8, "batch_size": 64, "report": "tse"}), [3.0, 6.0, 1.0])
    a = [space.sample(np.random.default_rng(5), {"epochs": 4}) for _ in range(3)]
    b = [space.sample(np.random.default_rng(5), {"epochs": 4}) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    draws = [space.sample(rng, {"epochs": 4}) for _ in range(40)]
    assert all(d["epochs"] == 4 for d in draws)
    assert {d["batch_size"] for d in draws} == {64, 128}


def test_the_hybrid_knob_is_a_derived_mip_knob_not_a_config_field():
    """``hybrid`` (what the proxy is rank-blended with) is read off the same training as ``report``;
    it is no BPEConfig field, so a setting's config leaves it out and its values are checked here."""
    space = knob_preset("cpu-hybrid")
    assert space.derived("hybrid") and space.derived("report") and not space.derived("epochs")
    assert space["hybrid"].values == ("none", "meco")
    setting = {**space.cheapest(), "hybrid": "meco"}
    assert space.to_config(setting) == space.to_config({**setting, "hybrid": "none"})
    assert "hybrid" not in space.to_config(setting).to_dict()
    with pytest.raises(ConfigError, match="hybrid must be one of"):
        KnobSpace([KnobGrid("hybrid", ("none", "mecoo"), "none", "categorical")], base=BPEConfig())


# -- load_knobs ---------------------------------------------------------------------------


def test_load_knobs_json_forms(tmp_path):
    path = tmp_path / "knobs.json"
    path.write_text(json.dumps({
        "epochs": [2, 4, 8],
        "batch_size": {"values": [64, 32], "cost": "decreasing", "scale": "linear"},
        "channels": {"log_range": [4, 32], "num": 4},
        "data_fraction": {"log_range": [0.05, 0.4], "num": 4},
        "precision": ["bf16", "fp32"],
    }))
    space = load_knobs(path)
    assert space.names == ["epochs", "batch_size", "channels", "data_fraction", "precision"]
    # shorthand takes the preset's cost/scale
    assert space["epochs"].values == (2, 4, 8)
    assert (space["epochs"].cost, space["epochs"].scale) == ("increasing", "log")
    assert (space["precision"].cost, space["precision"].scale) == ("order", "categorical")
    assert space["precision"].cheapest() == "bf16"
    # explicit cost/scale kept
    assert (space["batch_size"].cost, space["batch_size"].scale) == ("decreasing", "linear")
    assert space["batch_size"].cheapest() == 64
    # log_range: integers stay integers, floats are geometric
    assert space["channels"].values == (4, 8, 16, 32)
    assert all(isinstance(v, int) for v in space["channels"].values)
    assert space["data_fraction"].values == pytest.approx((0.05, 0.1, 0.2, 0.4))
    # non-knob fields stay at the base; the cheapest corner is a valid config
    cfg = space.to_config(space.cheapest())
    assert (cfg.epochs, cfg.batch_size, cfg.channels, cfg.data_fraction) == (2, 64, 4, 0.05)
    assert cfg.precision == "bf16"
    assert cfg.image_size == BPEConfig().image_size


def test_load_knobs_mapping_and_base():
    base = BPEConfig(image_size=8, channels=4)
    space = load_knobs({"epochs": [1, 2]}, base=base)
    assert space.to_config({"epochs": 2}).image_size == 8


@pytest.mark.parametrize(
    "spec, knob",
    [
        ({"epochs": {"values": [0, 2], "scale": "linear"}}, "epochs"),
        ({"epochs": [2, 4], "precision": ["fp32", "fp8"]}, "precision"),
        ({"epochs": []}, "epochs"),
        ({"channels": [8, 8]}, "channels"),
        ({"seed": [1, 2]}, "seed"),
        ({"epoch": [1, 2]}, "epoch"),
        ({"epochs": {"values": [2], "step": 2}}, "epochs"),
        ({"epochs": {"log_range": [8, 2]}}, "epochs"),
        ({"epochs": {"log_range": [2, 8], "num": 1}}, "epochs"),
        ({"epochs": "2,4"}, "epochs"),
        ({"epochs": {"cost": "increasing"}}, "epochs"),
    ],
)
def test_load_knobs_bad_spec(tmp_path, spec, knob):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ConfigError) as err:
        load_knobs(path)
    assert f"'{knob}'" in str(err.value)
    assert str(path) in str(err.value)


def test_load_knobs_missing_file_and_invalid_json(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="does not exist"):
        load_knobs(missing)
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": [2, 4,')
    with pytest.raises(ConfigError) as err:
        load_knobs(bad)
    assert str(bad) in str(err.value) and "JSON" in str(err.value)
    listed = tmp_path / "list.json"
    listed.write_text("[2, 4]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_knobs(listed)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown knob preset 'gpu'"):
        knob_preset("gpu")


@pytest.mark.parametrize("name", ["cpu", "paper", "digits"])
def test_presets_load_and_cheapest_corner_is_valid(name):
    assert name in KNOB_PRESETS
    space = load_knobs(name)
    assert space.base is not None
    assert "seed" not in space.names
    corner = space.cheapest()
    cfg = space.to_config(corner)
    assert isinstance(cfg, BPEConfig)
    for knob, value in corner.items():
        got = getattr(cfg, knob)
        assert got == value
        assert space[knob].cost_rank(value) == 0
        KNOBS[knob].check(knob, got)
    assert BPEConfig.from_dict(cfg.to_dict()) == cfg


def test_every_preset_choice_is_in_range():
    ranges = {**KNOBS, **BLEND_KNOBS}  # the config fields, and what a setting may be blended with
    for name in KNOB_PRESETS:
        space = knob_preset(name)
        for knob in space.names:
            for value in space[knob].values:
                ranges[knob].check(knob, float(value) if ranges[knob].kind is float else value)


# -- importance on a known function ---------------------------------------------------------


@pytest.fixture(scope="module")
def known_function():
    """y = 1.0 * f(a) + 0.05 * g(b) + 0 * c (+ tiny noise): a dominant, b small, c irrelevant."""
    space = KnobSpace([
        KnobGrid("a", tuple(range(1, 9)), "increasing", "log"),
        KnobGrid("b", tuple(range(1, 9)), "increasing", "linear"),
        KnobGrid("c", tuple(range(1, 9)), "none", "log"),
    ])
    rng = np.random.default_rng(42)
    settings = [space.sample(rng, {}) for _ in range(60)]
    y = [1.0 * math.log2(s["a"]) + 0.05 * s["b"] + 0.0 * s["c"] + rng.normal(0, 1e-3) for s in settings]
    return space, settings, y


@pytest.mark.parametrize("method", IMPORTANCE_METHODS)
def test_importance_finds_the_dominant_and_irrelevant_knob(known_function, method):
    space, settings, y = known_function
    seeds = (0, 1, 2)
    imp = knob_importance(space, settings, y, method=method, seeds=seeds)
    assert imp.method == method
    assert set(imp.mean) == set(imp.std) == {"a", "b", "c"}
    assert max(imp.mean, key=imp.mean.get) == "a"
    assert imp.least(["a", "b"]) == "b"
    assert imp.agreement(["a", "b", "c"]) == 1.0
    if method != "ped-anova":  # PED-ANOVA compares the top 10% (6 of 60 settings) with all: it finds the
        # dominant knob but cannot tell a small effect (b) from none (c) here; the forests can
        assert imp.mean["c"] <= imp.mean["b"] < imp.mean["a"]
        assert imp.mean["c"] < 0.05 * imp.mean["a"]
        assert imp.least(["a", "b", "c"]) == "c"
    assert len(imp.per_seed) == len(seeds)
    for knob in "abc":
        assert math.isfinite(imp.std[knob]) and imp.std[knob] >= 0
    again = knob_importance(space, settings, y, method=method, seeds=seeds)
    assert again.mean == imp.mean
    assert again.std == imp.std
    assert again.per_seed == imp.per_seed


def test_importance_other_forest_seeds_agree_on_ranking(known_function):
    space, settings, y = known_function
    imp = knob_importance(space, settings, y, method="mdi", seeds=(7, 8))
    assert imp.least(["a", "b", "c"]) == "c" and max(imp.mean, key=imp.mean.get) == "a"


def test_importance_degenerate_inputs(known_function):
    space, settings, _ = known_function
    constant = knob_importance(space, settings, [0.5] * len(settings), method="mdi", seeds=(0, 1))
    assert constant.mean == {"a": 0.0, "b": 0.0, "c": 0.0}
    nan_rho = knob_importance(space, settings[:3], [float("nan"), 0.2, None], method="mdi", seeds=(0,))
    assert nan_rho.mean == {"a": 0.0, "b": 0.0, "c": 0.0}
    with pytest.raises(ConfigError, match="importance must be one of"):
        knob_importance(space, settings, [0.1] * len(settings), method="shap")


def test_importance_ignores_non_finite_rho(known_function):
    space, settings, y = known_function
    noisy = list(y)
    noisy[0], noisy[1] = float("nan"), None
    imp = knob_importance(space, settings, noisy, method="mdi", seeds=(0,))
    assert all(math.isfinite(v) for v in imp.mean.values())
    assert imp.least(["a", "b", "c"]) == "c"


def test_partial_dependence_prefers_the_better_value(known_function):
    space, settings, y = known_function
    pd_a = partial_dependence(space, settings, y, "a", [1, 2, 8], seeds=(0, 1))
    assert set(pd_a) == {1, 2, 8}
    assert pd_a[8] > pd_a[2] > pd_a[1]
    assert pd_a[8] - pd_a[1] > 1.5  # f(8) - f(1) = 3
    pd_c = partial_dependence(space, settings, y, "c", [1, 8], seeds=(0, 1))
    assert abs(pd_c[8] - pd_c[1]) < 0.2 * (pd_a[8] - pd_a[1])
    assert partial_dependence(space, settings, y, "a", [1, 2, 8], seeds=(0, 1)) == pd_a


# -- cost model -----------------------------------------------------------------------------


@pytest.fixture
def cost_space():
    return KnobSpace([
        KnobGrid("epochs", (1, 2, 4, 8, 16), "increasing", "log"),
        KnobGrid("image_size", (8, 16, 32, 64), "increasing", "log"),
        KnobGrid("batch_size", (64, 128, 256), "decreasing", "log"),
    ])


def _cost(setting):
    return 0.01 * setting["epochs"] * setting["image_size"] ** 2


def test_cost_model_unfitted_predicts_none(cost_space):
    model = CostModel(cost_space)
    assert model.predict({"epochs": 2, "image_size": 16, "batch_size": 64}) is None
    model.fit([], [])
    assert model.predict({"epochs": 2, "image_size": 16, "batch_size": 64}) is None
    assert model.to_dict()["n_settings"] == 0


def test_cost_model_fits_log_linear_costs(cost_space):
    rng = np.random.default_rng(3)
    unseen = {"epochs": 16, "image_size": 64, "batch_size": 64}
    settings: list[dict] = []
    while len(settings) < 10:
        s = cost_space.sample(rng, {})
        if s not in settings and s != unseen:
            settings.append(s)
    costs = [_cost(s) for s in settings]
    model = CostModel(cost_space).fit(settings, costs)
    pred = model.predict(unseen)
    assert pred == pytest.approx(_cost(unseen), rel=0.10)
    # the measured ones too
    for s, c in zip(settings, costs):
        assert model.predict(s) == pytest.approx(c, rel=0.10)
    err = model.holdout_error(settings, costs)
    assert err["n_settings"] == 10
    assert 0 <= err["loo_median_relative_error"] < 0.05
    assert err["loo_max_relative_error"] >= err["loo_median_relative_error"]
    doc = model.to_dict()
    assert doc["n_settings"] == 10 and set(doc["coef"]) == {"epochs", "image_size", "batch_size"}


def test_cost_model_one_measurement_fixes_the_scale(cost_space):
    one = {"epochs": 2, "image_size": 16, "batch_size": 128}
    model = CostModel(cost_space).fit([one], [_cost(one)])
    assert model.predict(one) == pytest.approx(_cost(one), rel=1e-6)
    # prior exponents (epochs^1, image_size^2) are exactly this cost law
    assert model.predict({"epochs": 8, "image_size": 32, "batch_size": 128}) == pytest.approx(
        _cost({"epochs": 8, "image_size": 32}), rel=1e-6)


def test_cost_model_corrects_a_wrong_prior_exponent(cost_space):
    """Cost linear in image_size (prior says squared): more measurements move the exponent towards 1."""
    rng = np.random.default_rng(0)
    settings = [cost_space.sample(rng, {}) for _ in range(40)]
    costs = [0.01 * s["epochs"] * s["image_size"] for s in settings]
    model = CostModel(cost_space).fit(settings, costs)
    exponent = model.to_dict()["coef"]["image_size"]
    assert abs(exponent - 1.0) < abs(2.0 - 1.0) / 2


def test_cost_model_ignores_bad_costs_and_derived_knobs():
    space = KnobSpace([KnobGrid("epochs", (1, 2, 4)),
                       KnobGrid("report", ("valid_accuracy", "tse"), "none", "categorical")], base=BPEConfig())
    model = CostModel(space)
    assert model.columns == [("epochs", None)]
    model.fit([{"epochs": 1, "report": "tse"}, {"epochs": 2, "report": "tse"}], [float("nan"), 3.0])
    assert model.n_ == 1
    assert model.predict({"epochs": 4, "report": "valid_accuracy"}) == pytest.approx(6.0, rel=1e-6)


def cap_of(settings: pd.DataFrame) -> float:
    """A cap that excludes roughly half of the records."""
    costs = sorted(settings["gpu_hours_per_net"])
    return float(costs[len(costs) // 2])


FAST = dict(per_round=4, skip_over_cap=False, forest_seeds=3)


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    return folder, write_records(folder)


@pytest.fixture(scope="module")
def mip_run(records_dir):
    folder, settings = records_dir
    cfg = MIPSettings(max_cost=cap_of(settings), **FAST)
    events: list[str] = []
    result = run_mip(TabularEvaluator(read_tabular_records(folder)), cfg, progress=False, on_event=events.append)
    return result, cfg, events


def _order(result):
    return [r.pruned for r in result.rounds if r.pruned is not None]


def _check_valid(result, cfg, settings: pd.DataFrame):
    """The chosen setting is the best measured rho within the cap; rounds are well formed."""
    assert result.chosen is not None
    assert result.chosen.cost_per_arch <= cfg.max_cost
    within = [r.spearman for r in result.trajectory
              if r.cost_per_arch <= cfg.max_cost and math.isfinite(r.spearman)]
    assert result.chosen.spearman == max(within)
    # the chosen cost is the recorded cost of that setting
    row = settings.set_index("setting").loc[result.chosen.name]
    assert result.chosen.cost_per_arch == pytest.approx(row["gpu_hours_per_net"])
    assert {k: row[k] for k in TAB_KNOBS} == result.chosen.setting
    # every record measured at most once
    names = [r.name for r in result.trajectory]
    assert len(names) == len(set(names))
    assert set(names) <= set(settings["setting"])
    assert isinstance(result.rounds, list) and result.rounds
    pruned = []
    for i, rnd in enumerate(r.to_dict() for r in result.rounds):
        assert rnd["round"] == i + 1
        if rnd["pruned"] is None:
            continue
        assert rnd["importances"] and set(rnd["importances"]) == set(rnd["free"])
        assert rnd["pruned"] in rnd["free"] and rnd["pruned"] not in pruned
        assert rnd["fixed_value"] in TAB_KNOBS[rnd["pruned"]]
        assert all(v >= 0 for v in rnd["importances_std"].values())
        # the least important free knob is the one pruned
        assert rnd["importances"][rnd["pruned"]] == min(rnd["importances"].values())
        pruned.append(rnd["pruned"])
    assert result.fixed == {r.pruned: r.fixed_value for r in result.rounds if r.pruned is not None}


def test_tabular_mip_chooses_best_within_cap(mip_run, records_dir):
    result, cfg, events = mip_run
    _, settings = records_dir
    _check_valid(result, cfg, settings)
    order = _order(result)
    assert order, "no knob was pruned"
    assert order[0] != "layers"
    # layers and epochs drive the rank agreement; cutout_length does not
    assert "cutout_length" in order
    if "layers" in order:
        assert order.index("cutout_length") < order.index("layers")
    assert not {"layers", "epochs"} <= set(order)
    # the loop runs until one knob is left, measuring all 16 records on the way
    assert result.stop_reason == "one knob left"
    assert len(result.fixed) == len(TAB_KNOBS) - 1
    assert len(result.trajectory) == len(settings)
    assert all("round" in r.extra and "predicted_cost" in r.extra for r in result.trajectory)
    assert result.spent == len(result.trajectory)
    assert result.cost_model["n_settings"] == len(result.trajectory)
    assert any("pruned" in e for e in events)


def test_tabular_mip_first_round_starts_at_the_cheapest_corner(mip_run, records_dir):
    result, _, _ = mip_run
    first = result.trajectory[0]
    assert first.extra["round"] == 1
    # the first record measured is the one nearest the cheapest corner (normalised cost ranks)
    ev = TabularEvaluator(read_tabular_records(records_dir[0]))
    sizes = {k: max(1, len(ev.knobs[k].values) - 1) for k in ev.knobs.names}
    score = {c.record: sum(ev.knobs[k].cost_rank(c.values[k]) / sizes[k] for k in sizes) for c in ev.candidates()}
    assert score[first.name] == min(score.values())
    assert len([r for r in result.trajectory if r.extra["round"] == 1]) == 2 * FAST["per_round"]  # initial = 2 K


@pytest.mark.slow  # a second whole tabular run
def test_tabular_mip_is_deterministic(mip_run, records_dir):
    result, cfg, _ = mip_run
    folder, _ = records_dir
    again = run_mip(TabularEvaluator(read_tabular_records(folder)), cfg, progress=False, on_event=lambda _: None)
    assert [r.name for r in again.trajectory] == [r.name for r in result.trajectory]
    assert [r.spearman for r in again.trajectory] == [r.spearman for r in result.trajectory]
    assert _order(again) == _order(result)
    assert [r.fixed_value for r in again.rounds] == [r.fixed_value for r in result.rounds]
    assert [r.importances for r in again.rounds] == [r.importances for r in result.rounds]
    assert again.chosen.name == result.chosen.name


def test_tabular_mip_other_seed_is_still_valid(mip_run, records_dir):
    result, cfg, _ = mip_run
    folder, settings = records_dir
    other_cfg = MIPSettings(max_cost=cfg.max_cost, seed=7, **FAST)
    other = run_mip(TabularEvaluator(read_tabular_records(folder)), other_cfg, progress=False,
                    on_event=lambda _: None)
    _check_valid(other, other_cfg, settings)
    assert _order(other)[0] != "layers"


# -- read_tabular_records: bad input ------------------------------------------------------


@pytest.fixture
def fresh_records(tmp_path):
    folder = tmp_path / "rec"
    write_records(folder, n_settings=5, n_archs=8)
    return folder


def test_records_read(fresh_records):
    rec = read_tabular_records(fresh_records)
    assert rec.knob_columns == list(TAB_KNOBS)
    assert rec.cost_column == "gpu_hours_per_net"
    assert list(rec.accuracies.columns) == [f"s{i:02d}" for i in range(5)]
    assert len(rec.truth) == 8
    ev = TabularEvaluator(rec)
    assert ev.knobs.names == list(TAB_KNOBS)
    assert ev.knobs["cutout_length"].scale == "linear"  # has a 0: never log
    assert len(ev.candidates()) == 5


def test_records_missing_folder(tmp_path):
    with pytest.raises(DataError) as err:
        read_tabular_records(tmp_path / "absent")
    assert "absent" in str(err.value) and "does not exist" in str(err.value)


@pytest.mark.parametrize("name", ["settings.csv", "accuracies.csv", "ground_truth.csv"])
def test_records_missing_file(fresh_records, name):
    (fresh_records / name).unlink()
    with pytest.raises(DataError) as err:
        read_tabular_records(fresh_records)
    assert f"lacks {name}" in str(err.value)


def test_records_setting_without_accuracies_column(fresh_records):
    acc = pd.read_csv(fresh_records / "accuracies.csv").drop(columns=["s03"])
    acc.to_csv(fresh_records / "accuracies.csv", index=False)
    with pytest.raises(DataError) as err:
        read_tabular_records(fresh_records)
    assert "accuracies.csv" in str(err.value) and "s03" in str(err.value)


def test_records_different_arch_ids(fresh_records):
    gt = pd.read_csv(fresh_records / "ground_truth.csv")
    gt.loc[0, "arch_id"] = 99
    gt.to_csv(fresh_records / "ground_truth.csv", index=False)
    with pytest.raises(DataError) as err:
        read_tabular_records(fresh_records)
    text = str(err.value)
    assert "accuracies.csv" in text and "ground_truth.csv" in text and "different architectures" in text
    assert "99" in text


def test_records_repeated_arch_id(fresh_records):
    acc = pd.read_csv(fresh_records / "accuracies.csv")
    acc = pd.concat([acc, acc.iloc[[0]]])
    acc.to_csv(fresh_records / "accuracies.csv", index=False)
    with pytest.raises(DataError, match="repeated"):
        read_tabular_records(fresh_records)


def test_records_bad_settings_columns(fresh_records):
    settings = pd.read_csv(fresh_records / "settings.csv")
    settings.drop(columns=["gpu_hours_per_net"]).to_csv(fresh_records / "settings.csv", index=False)
    with pytest.raises(DataError, match="gpu_hours_per_net"):
        read_tabular_records(fresh_records)
    bad = settings.copy()
    bad["epochs"] = bad["epochs"].astype(object)
    bad.loc[1, "epochs"] = "ten"
    bad.to_csv(fresh_records / "settings.csv", index=False)
    with pytest.raises(DataError, match="column epochs must hold a number"):
        read_tabular_records(fresh_records)
    dup = settings.copy()
    dup.loc[1, "setting"] = "s00"
    dup.to_csv(fresh_records / "settings.csv", index=False)
    with pytest.raises(DataError, match="names a setting twice: s00"):
        read_tabular_records(fresh_records)
    with pytest.raises(DataError, match="knob column"):
        read_tabular_records(fresh_records, knob_columns=["epochs", "warmup"])


def test_records_unreadable_csv(fresh_records):
    (fresh_records / "ground_truth.csv").write_bytes(b"\xff\xfe\x00\x01garbage\n\x00")
    with pytest.raises(DataError) as err:
        read_tabular_records(fresh_records)
    assert "ground_truth.csv" in str(err.value)


def test_records_numeric_setting_names(fresh_records):
    settings = pd.read_csv(fresh_records / "settings.csv")
    acc = pd.read_csv(fresh_records / "accuracies.csv")
    renamed = {f"s{i:02d}": str(i + 1) for i in range(len(settings))}
    settings["setting"] = settings["setting"].map(renamed)
    settings.to_csv(fresh_records / "settings.csv", index=False)
    acc.rename(columns=renamed).to_csv(fresh_records / "accuracies.csv", index=False)
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    results = [ev.evaluate(c)[0] for c in ev.candidates()]
    assert [r.name for r in results] == ["1", "2", "3", "4", "5"]
    assert all(math.isfinite(r.spearman) for r in results)


def test_tabular_evaluate_matches_direct_spearman(fresh_records):
    from scipy.stats import spearmanr

    ev = TabularEvaluator(read_tabular_records(fresh_records))
    acc = pd.read_csv(fresh_records / "accuracies.csv").set_index("arch_id")
    gt = pd.read_csv(fresh_records / "ground_truth.csv").set_index("arch_id")
    for c in ev.candidates():
        r = ev.evaluate(c)[0]
        expected = spearmanr(acc[c.record].loc[gt.index], gt["accuracy"]).statistic
        assert r.spearman == pytest.approx(expected, abs=1e-9)
        assert r.n_archs == r.n_ok == 8
        assert "_name" not in r.setting and r.name == c.record
        assert r.cost_per_arch == ev.recorded_cost(c)


# -- run_mip preflight ----------------------------------------------------------------------


def test_preflight_cap_below_cheapest(fresh_records):
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    cheapest = min(ev.recorded_cost(c) for c in ev.candidates())
    with pytest.raises(BPEError) as err:
        run_mip(ev, MIPSettings(max_cost=cheapest * 0.5, per_round=2), progress=False, on_event=lambda _: None)
    assert "below the cheapest" in str(err.value)


def test_preflight_budget_below_one_round(fresh_records):
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    with pytest.raises(BPEError) as err:
        run_mip(ev, MIPSettings(per_round=4, budget=3), progress=False, on_event=lambda _: None)
    assert "budget" in str(err.value)


def test_budget_stops_tabular_mip(fresh_records):
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    result = run_mip(ev, MIPSettings(per_round=2, initial=2, budget=3, forest_seeds=1, importance="mdi"), progress=False,
                     on_event=lambda _: None)
    assert len(result.trajectory) == 3
    assert result.spent == 3
    assert result.stop_reason == "budget spent"


def test_random_settings_search_tabular_without_cap(fresh_records):
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    first = random_settings_search(ev, 3, seed=1)
    assert len(first) == 3 and len({r.name for r in first}) == 3
    assert [r.name for r in random_settings_search(ev, 3, seed=1)] == [r.name for r in first]
    assert len(random_settings_search(ev, 50, seed=1)) == 5  # without replacement


def test_random_settings_search_tabular_skips_records_predicted_over_cap(fresh_records):
    """A recorded cost counts as unknown until looked up: the over-cap rule uses the cost model,
    so after the first lookup no record predicted above the cap is looked up."""
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    costs = sorted(ev.recorded_cost(c) for c in ev.candidates())
    cap = costs[1]
    results = random_settings_search(ev, 5, seed=0, max_cost=cap, skip_over_cap=True)
    assert results, "nothing measured"
    assert results[0].extra["predicted_cost"] is None
    assert all(r.extra["predicted_cost"] <= cap for r in results[1:])
    everything = random_settings_search(ev, 5, seed=0, max_cost=cap, skip_over_cap=False)
    assert len(everything) == 5 and len(results) < 5


# -- MIPSettings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(per_round=0), "per_round"),
        (dict(per_round=2.5), "per_round"),
        (dict(rounds=0), "rounds"),
        (dict(importance="shap"), "importance"),
        (dict(forest_seeds=0), "forest_seeds"),
        (dict(prune_rule="median"), "prune_rule"),
        (dict(max_cost=-1.0), "cap"),
        (dict(max_cost=float("nan")), "cap"),
        (dict(budget=0), "budget"),
    ],
)
def test_mip_settings_rejects(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        MIPSettings(**kwargs)


def test_mip_settings_defaults():
    cfg = MIPSettings()
    assert (cfg.per_round, cfg.importance, cfg.forest_seeds, cfg.prune_rule) == (4, "fanova", 10, "within-noise")


# -- export -------------------------------------------------------------------------------


def _no_nan(text: str):
    def refuse(name):
        raise AssertionError(f"bpe.json contains {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory):
    """A short run whose first (cheapest) record has constant accuracies: an undefined rho."""
    folder = tmp_path_factory.mktemp("nanrec")
    settings = write_records(folder, n_settings=10, n_archs=20, seed=2)
    ev = TabularEvaluator(read_tabular_records(folder))
    sizes = {k: max(1, len(ev.knobs[k].values) - 1) for k in ev.knobs.names}
    corner = min(ev.candidates(), key=lambda c: sum(ev.knobs[k].cost_rank(c.values[k]) / sizes[k] for k in sizes))
    write_records(folder, n_settings=10, n_archs=20, seed=2, constant=corner.record)
    ev = TabularEvaluator(read_tabular_records(folder))
    cfg = MIPSettings(per_round=4, rounds=2, forest_seeds=2, skip_over_cap=False, max_cost=cap_of(settings))
    return run_mip(ev, cfg, progress=False, on_event=lambda _: None), ev, corner.record


def _check_document(doc, result, ev, tmp_path):
    chosen = result.chosen
    config = BPEConfig.from_dict(doc["config"])
    assert config.epochs == chosen.setting["epochs"]
    assert config.batch_size == chosen.setting["batch_size"]
    assert config.channels == chosen.setting["channels"]
    assert config.image_size == chosen.setting["image_size"]
    assert config.layers == chosen.setting["layers"]
    assert config.precision == ("fp16" if chosen.setting["float_bits"] == 16 else "fp32")
    assert config.cutout == chosen.setting["cutout_length"]
    measured = doc["measured"]
    assert measured["spearman"] == pytest.approx(chosen.spearman)
    assert measured["kendall"] == pytest.approx(chosen.kendall)
    assert measured["cost_per_arch"] == pytest.approx(chosen.cost_per_arch)
    assert measured["name"] == chosen.name
    assert measured["cost_unit"] == ev.cost_unit
    assert doc["trajectory"][measured["id"]]["name"] == chosen.name
    assert isinstance(doc["rounds"], list) and len(doc["rounds"]) == len(result.rounds)
    assert doc["rounds"] == [r.to_dict() for r in result.rounds]
    assert len(doc["trajectory"]) == len(result.trajectory)
    assert doc["objective"]["max_cost"] == result.settings.max_cost
    front = [doc["trajectory"][i] for i in doc["frontier"]]
    costs = [t["cost_per_arch"] for t in front]
    assert costs == sorted(costs)
    rhos = [t["spearman"] for t in front]
    assert rhos == sorted(rhos) and len(set(rhos)) == len(rhos)

    out = tmp_path / "bpe.json"
    paths = write_mip(doc, out)
    assert paths[0] == out
    text = out.read_text()
    parsed = _no_nan(text)
    assert BPEConfig.from_dict(parsed["config"]) == config
    assert parsed["measured"]["spearman"] == pytest.approx(chosen.spearman)
    for suffix in ("_importance.png", "_frontier.png"):
        png = tmp_path / f"bpe{suffix}"
        assert png in paths
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return parsed


def test_export_document_and_files(mip_run, records_dir, tmp_path):
    result, _, _ = mip_run
    ev = TabularEvaluator(read_tabular_records(records_dir[0]))
    doc = mip_document(result, provenance={"cost_unit": ev.cost_unit, **ev.describe()})
    assert doc["kind"] == "bpe-mip"
    parsed = _check_document(doc, result, ev, tmp_path)
    assert parsed["mip"]["n_settings_measured"] == len(result.trajectory)
    assert parsed["fixed"] == result.fixed


def test_export_with_undefined_rho_has_no_nan(nan_run, tmp_path):
    result, ev, corner = nan_run
    first = result.trajectory[0]
    assert first.name == corner and math.isnan(first.spearman)
    assert result.chosen is not None and result.chosen.name != corner
    assert len(result.rounds) == 2 and result.stop_reason.startswith("round limit")
    doc = mip_document(result, provenance={"cost_unit": ev.cost_unit})
    parsed = _check_document(doc, result, ev, tmp_path)
    assert parsed["trajectory"][0]["spearman"] is None
    assert 0 not in parsed["frontier"]


def test_export_without_a_chosen_setting(nan_run, tmp_path):
    from dataclasses import replace

    result, _, _ = nan_run
    empty = replace(result, chosen=None)
    doc = mip_document(empty, provenance={})
    assert doc["config"] is None and doc["measured"] is None
    paths = write_mip(doc, tmp_path / "none.json")
    _no_nan(paths[0].read_text())
    assert all(p.is_file() for p in paths)


# -- review fixes ---------------------------------------------------------------------------


def test_setting_with_few_usable_scores_is_never_chosen(fresh_records):
    """A setting where most archs have no score gets rho nan (2 pairs would give |rho| = 1)."""
    acc = pd.read_csv(fresh_records / "accuracies.csv")
    gt = pd.read_csv(fresh_records / "ground_truth.csv").set_index("arch_id")
    acc["s01"] = np.nan
    acc.loc[:1, "s01"] = gt.loc[acc["arch_id"][:2], "accuracy"].to_numpy()  # 2 pairs in perfect order
    acc.to_csv(fresh_records / "accuracies.csv", index=False)
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    bad = ev.evaluate(next(c for c in ev.candidates() if c.record == "s01"))[0]
    assert math.isnan(bad.spearman) and "usable" in bad.extra["unusable"] and bad.n_ok == 2
    result = run_mip(ev, MIPSettings(per_round=2, forest_seeds=2, importance="mdi"), progress=False,
                     on_event=lambda _: None)
    assert result.chosen.name != "s01"


def test_non_numeric_accuracy_is_a_data_error(fresh_records):
    acc = pd.read_csv(fresh_records / "accuracies.csv")
    acc["s02"] = acc["s02"].astype(object)
    acc.loc[3, "s02"] = "bad"
    acc.to_csv(fresh_records / "accuracies.csv", index=False)
    with pytest.raises(DataError, match="s02 holds the non-number 'bad'"):
        read_tabular_records(fresh_records)


def test_negative_sampler_seed_is_a_config_error():
    with pytest.raises(ConfigError, match="seed"):
        MIPSettings(seed=-1)


def test_unaffordable_setting_is_skipped_not_the_end(fresh_records):
    """The tabular budget counts lookups: a round that cannot pay a setting skips it; the run ends
    only when a round can pay for nothing."""
    ev = TabularEvaluator(read_tabular_records(fresh_records))
    result = run_mip(ev, MIPSettings(per_round=2, initial=2, budget=4, forest_seeds=1, importance="mdi"),
                     progress=False, on_event=lambda _: None)
    assert len(result.trajectory) == 4 and result.spent == 4
    assert result.stop_reason == "budget spent"
    assert any(s.get("reason") == "budget" for r in result.rounds for s in r.skipped_over_cap)


def test_pruned_value_was_measured(mip_run):
    result = mip_run[0]
    for rnd in (r.to_dict() for r in result.rounds):
        if rnd.get("pruned"):
            measured_before = {r.setting[rnd["pruned"]] for r in result.trajectory[: max(rnd["measured"] or [-1]) + 1]
                               if math.isfinite(r.spearman)}
            assert rnd["fixed_value"] in measured_before or not measured_before


def test_reference_truth_refuses_another_report():
    from bpe.data import DatasetSpec
    from bpe.truth.reference import ReferenceBenchmark

    with pytest.raises(ConfigError, match="report"):
        ReferenceBenchmark(DatasetSpec("digits"), BPEConfig(report="tse"))


def test_old_cache_records_without_training_losses_are_measured_again():
    from bpe.estimators.base import EvalRecord
    from bpe.estimators.proxy import ProxyTrainingEstimator, reported_score
    from bpe.runtime import layout_key

    est = ProxyTrainingEstimator(BPEConfig(report="tse"))
    layout = layout_key(est.device).get(
        "layout", "contiguous")  # the layout this machine trains the config in
    old = EvalRecord(arch="a", score=50.0, status="ok", info={"valid_loss": 1.0, "train_loss": 2.0, "layout": layout})
    new = EvalRecord(arch="a", score=50.0, status="ok",
                     info={"valid_loss": 1.0, "train_losses": [3.0, 2.0], "layout": layout})
    assert not est.reusable(old) and est.reusable(new)
    assert est.finalize(new).score == pytest.approx(-5.0)
    assert est.with_report("tse_e1").finalize(new).score == pytest.approx(-2.0)
    assert est.with_report("valid_loss").finalize(new).score == pytest.approx(-1.0)
    assert est.with_report("valid_accuracy").finalize(new).score == 50.0
    assert reported_score("tse", None, None, []) is None
