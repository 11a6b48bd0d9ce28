"""The search-space contract: a conformance suite run over every registered space, the DARTS
genotype forms, the layers knob, and the BPE paper's cells as a benchmark."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bpe.config import BPEConfig
from bpe.errors import ArchStringError, BPEError, ConfigError, TruthError
from bpe.estimators.proxy import training_key
from bpe.spaces import available_spaces, get_space
from bpe.spaces.darts import DARTS_V2, DartsGenotype, parse_genotype
from bpe.truth import BPEPaperBenchmark, load_truth

SPACES = available_spaces()
#: a small network per space for forward passes
TINY = {"nb201": dict(channels=4, layers=5), "darts": dict(channels=4, layers=5)}


def test_both_spaces_are_registered():
    assert {"nb201", "darts"} <= set(SPACES)
    with pytest.raises(BPEError, match="did you mean 'darts'"):
        get_space("dart")


@pytest.mark.parametrize("name", SPACES)
def test_string_round_trip_and_canonical_form(name):
    space = get_space(name)
    for arch in space.sample(5, 0):
        text = str(arch)
        assert space.parse(text) == arch
        assert str(space.parse(text)) == text  # the canonical form is a fixed point
        assert space.format(text) == text
        assert space.from_decisions(space.to_decisions(arch)) == arch


@pytest.mark.parametrize("name", SPACES)
def test_seeded_sampling_is_distinct_reproducible_and_nested(name):
    space = get_space(name)
    a, b = space.sample(30, 3), space.sample(30, 3)
    assert a == b and len(set(map(str, a))) == 30
    assert space.sample(30, 4) != a
    assert space.sample_nested(10, 7) == space.sample_nested(25, 7)[:10]
    order = space.random_order(np.random.default_rng(1))
    firsts = [next(order) for _ in range(40)]
    assert len(set(map(str, firsts))) == 40
    with pytest.raises(ArchStringError):
        space.sample(-1, 0)


@pytest.mark.parametrize("name", SPACES)
def test_mutation_stays_valid_and_changes_exactly_one_decision(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for arch in space.sample(20, 1):
        child = space.mutate(arch, rng)
        assert space.parse(str(child)) == child
        diff = [x != y for x, y in zip(space.to_decisions(arch), space.to_decisions(child))]
        assert sum(diff) == 1


@pytest.mark.parametrize("name", SPACES)
def test_neighbours_are_one_decision_away_and_complete(name):
    space = get_space(name)
    arch = space.sample(1, 2)[0]
    neighbours = space.neighbours(arch)
    assert len(neighbours) == sum(n - 1 for n in space.decisions())
    assert len(set(map(str, neighbours))) == len(neighbours)
    codes = space.to_decisions(arch)
    assert all(sum(x != y for x, y in zip(codes, space.to_decisions(n))) == 1 for n in neighbours)


@pytest.mark.parametrize("name", SPACES)
def test_encoding_is_a_one_hot_per_decision(name):
    space = get_space(name)
    archs = space.sample(4, 5)
    x = space.encode(archs)
    assert x.shape == (4, sum(space.decisions())) and x.dtype == np.float32
    assert (x.sum(axis=1) == len(space.decisions())).all()
    assert np.array_equal(space.encode(archs[0]), x[0])
    assert np.array_equal(space.encode(str(archs[0])), x[0])


@pytest.mark.parametrize("name", SPACES)
def test_build_and_supernet_forward_on_a_tiny_input(name):
    space = get_space(name)
    size = space.net_size(**TINY[name])
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    for arch in space.sample(2, 0):
        net = space.build(arch, num_classes=3, **size)
        assert net(x).shape == (2, 3)
    sup = space.supernet(num_classes=3, **size)
    out = sup(x)
    assert out.shape == (2, 3)
    out.sum().backward()
    assert sup.alphas.grad is not None and torch.isfinite(sup.alphas.grad).all()
    derived = sup.derive()
    assert space.parse(str(derived)) == derived
    assert len(sup.weight_parameters()) == len(list(sup.parameters())) - 1


@pytest.mark.parametrize("name", SPACES)
def test_bad_strings_raise_one_clear_error(name):
    space = get_space(name)
    for bad in ("", "garbage", "|conv~0|", "Genotype(normal=[])"):
        with pytest.raises(ArchStringError):
            space.parse(bad)


def test_size_and_enumerability():
    assert get_space("nb201").size == 15625 and get_space("nb201").enumerable
    darts = get_space("darts")
    assert not darts.enumerable and darts.size == (49 ** 4 * 1 * 3 * 6 * 10) ** 2
    with pytest.raises(BPEError, match="cannot be listed"):
        next(iter(darts.enumerate_archs()))


# -- DARTS genotypes -----------------------------------------------------------------------

NESTED = ("Genotype(normal=[[('avg_pool_3x3', 0), ('dil_conv_5x5', 1)], [('max_pool_3x3', 0), ('avg_pool_3x3', 1)], "
          "[('max_pool_3x3', 0), ('avg_pool_3x3', 3)], [('sep_conv_5x5', 0), ('dil_conv_3x3', 1)]], "
          "normal_concat=range(2, 6), reduce=[[('dil_conv_5x5', 1), ('dil_conv_3x3', 0)], [('dil_conv_3x3', 2), "
          "('max_pool_3x3', 0)], [('dil_conv_3x3', 3), ('sep_conv_3x3', 2)], [('dil_conv_3x3', 3), ('dil_conv_5x5', 1)]], "
          "reduce_concat=range(2, 6))")


def test_nested_flat_list_and_tuple_forms_are_one_genotype():
    g = parse_genotype(NESTED)
    flat = str(g)
    assert flat.startswith("Genotype(normal=[('avg_pool_3x3', 0), ('dil_conv_5x5', 1), ") and "range" not in flat
    # within a node, pairs are sorted by input: the paper's ('dil_conv_5x5', 1), ('dil_conv_3x3', 0) is reordered
    assert g.reduce[:2] == (("dil_conv_3x3", 0), ("dil_conv_5x5", 1))
    as_tuples = NESTED.replace("[", "(").replace("]", ")")
    assert parse_genotype(as_tuples) == g
    assert parse_genotype(flat.replace("[2, 3, 4, 5]", "(2, 3, 4, 5)")) == g
    positional = flat.replace("normal=", "").replace("normal_concat=", "").replace("reduce=", "").replace(
        "reduce_concat=", "")
    assert parse_genotype(positional) == g


@pytest.mark.parametrize("bad, match", [
    (NESTED.replace("avg_pool_3x3", "conv_9x9", 1), "unknown op 'conv_9x9'"),
    (NESTED.replace("('avg_pool_3x3', 0)", "('none', 0)", 1), "only in the supernet"),
    (NESTED.replace("('max_pool_3x3', 0), ('avg_pool_3x3', 3)", "('max_pool_3x3', 0), ('avg_pool_3x3', 5)"), "inputs 0..3"),
    (NESTED.replace("('avg_pool_3x3', 0), ('dil_conv_5x5', 1)", "('avg_pool_3x3', 0), ('dil_conv_5x5', 0)"),
     "two different inputs"),
    (NESTED.replace("normal_concat=range(2, 6)", "normal_concat=[2, 3]"), "normal_concat must be"),
    (NESTED.replace("Genotype(", "__import__('os').system('true') or Genotype("), "expected Genotype"),
    (NESTED[:-5], "malformed"),
    (NESTED.replace("normal=", "nromal="), "unknown field 'nromal'"),
])
def test_bad_genotypes_name_the_problem(bad, match):
    with pytest.raises(ArchStringError, match=match):
        parse_genotype(bad)


def test_sampling_matches_the_papers_generator_distribution():
    # per node: two distinct inputs (each unordered pair equally likely), each op uniform over 7
    space = get_space("darts")
    archs = space.sample(3000, 11)
    node3_pairs = [tuple(sorted(s for _, s in a.normal[6:8])) for a in archs]
    counts = np.array([node3_pairs.count(p) for p in sorted(set(node3_pairs))])
    assert len(counts) == 10 and counts.min() > 3000 / 10 * 0.75 and counts.max() < 3000 / 10 * 1.25
    ops = [op for a in archs for op, _ in a.reduce]
    op_counts = np.array([ops.count(o) for o in space.OPS])
    assert op_counts.min() > len(ops) / 7 * 0.9 and op_counts.max() < len(ops) / 7 * 1.1


def test_darts_v2_has_the_published_parameter_count():
    net = get_space("darts").build(DARTS_V2, channels=36, layers=20, num_classes=10, auxiliary=False)
    params = sum(p.numel() for p in net.parameters()) / 1e6
    assert 3.25 <= params <= 3.45  # published 3.3 M (the auxiliary head excluded)
    assert str(DARTS_V2) == str(parse_genotype(str(DARTS_V2)))
    assert isinstance(DARTS_V2, DartsGenotype)


def test_darts_supernet_derives_a_genotype_by_the_top2_rule():
    sup = get_space("darts").supernet(channels=4, layers=5, num_classes=3)
    with torch.no_grad():
        sup.alphas.zero_()
        sup.alphas[:, :, -1] = 5.0  # 'none' strongest everywhere: ignored by the rule
        sup.alphas[0, 0, 3] = 2.0  # normal node 0, edge from state 0: sep_conv_3x3
        sup.alphas[0, 1, 6] = 1.0  # normal node 0, edge from state 1: dil_conv_5x5
    g = sup.derive()
    assert isinstance(g, DartsGenotype) and g.normal[:2] == (("sep_conv_3x3", 0), ("dil_conv_5x5", 1))


# -- the layers knob ---------------------------------------------------------------------

def test_old_config_files_with_cells_per_stage_still_load(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"epochs": 3, "cells_per_stage": 2, "channels": 8}))
    config = BPEConfig.from_json(path)
    assert config.layers == 8 and get_space("nb201").net_size(channels=8, layers=8)["cells_per_stage"] == 2
    with pytest.raises(ConfigError, match="not both"):
        BPEConfig.from_dict({"layers": 8, "cells_per_stage": 2})
    with pytest.raises(ConfigError, match="cells_per_stage must be an integer"):
        BPEConfig.from_dict({"cells_per_stage": 0})


def test_each_space_maps_layers_to_its_own_structure():
    nb201, darts = get_space("nb201"), get_space("darts")
    assert [nb201.net_size(channels=8, layers=L)["cells_per_stage"] for L in (5, 6, 8, 16, 17)] == [1, 1, 2, 5, 5]
    assert darts.net_size(channels=8, layers=6) == {"channels": 8, "layers": 6}
    # two layer counts that build the same NB201 network share one cached training
    assert training_key(BPEConfig(layers=5), "nb201") == training_key(BPEConfig(layers=6), "nb201")
    assert training_key(BPEConfig(layers=5), "darts") != training_key(BPEConfig(layers=6), "darts")


def test_training_keys_of_nb201_runs_are_unchanged_by_the_layers_knob():
    # the key an NB201 run had before `layers` existed: every training field, cells_per_stage for depth
    key = training_key(BPEConfig(layers=8, channels=4), "nb201")
    assert key["cells_per_stage"] == 2 and "layers" not in key
    assert "auxiliary_weight" not in key and "drop_path" not in key  # at their old value: left out
    assert "drop_path" in training_key(BPEConfig(drop_path=0.2), "darts")


def test_darts_only_training_features_are_refused_on_nb201():
    with pytest.raises(ConfigError, match="auxiliary_weight > 0 needs"):
        get_space("nb201").check_config(BPEConfig(auxiliary_weight=0.4))
    get_space("darts").check_config(BPEConfig(auxiliary_weight=0.4, drop_path=0.2))


def test_auxiliary_loss_and_drop_path_in_the_one_training_loop():
    from bpe.data import DatasetSpec, prepare_split
    from bpe.training import train_and_evaluate

    data = prepare_split(DatasetSpec("digits"), 0.3)
    arch = get_space("darts").sample(1, 0)[0]
    base = BPEConfig(epochs=2, batch_size=64, channels=4, layers=5, image_size=8, learning_rate=0.05)
    plain = train_and_evaluate(arch, base, data, space="darts", device="cpu", num_threads=1)
    aux = train_and_evaluate(arch, base.replace(auxiliary_weight=0.4, drop_path=0.2), data, space="darts",
                             device="cpu", num_threads=1)
    assert plain.status == aux.status == "ok"
    # the auxiliary loss is added to the training loss: the reported loss is larger at the start
    assert aux.history[0]["train_loss"] > plain.history[0]["train_loss"]
    assert aux.num_params > plain.num_params  # the auxiliary head is built and trained


# -- the BPE paper's cells as a benchmark ------------------------------------------------------

@pytest.fixture(scope="module")
def paper(data_dir):
    return BPEPaperBenchmark(data_dir / "bpe_paper")


def test_paper_cells_are_served_by_genotype_with_every_setting(paper):
    archs = paper.archs()
    assert len(archs) == 100 and len(set(archs)) == 100
    assert paper.default_metric == "accuracy" and "test5" in paper.metrics and len(paper.metrics) == 38
    acc = [paper.query(a) for a in archs]
    assert min(acc) == pytest.approx(96.18) and max(acc) == pytest.approx(97.45)
    # the recorded BPE-1 (test5) reproduces its published rho from the records
    from scipy.stats import spearmanr

    rho = spearmanr(acc, [paper.query(a, "test5") for a in archs]).statistic
    assert rho == pytest.approx(0.4967, abs=0.002)
    # a cell given in another form (nested, pairs unsorted) is the same cell
    assert paper.query(NESTED) == pytest.approx(96.82) and paper.arch_id(NESTED) == 0
    bpe1 = paper.setting_config("test5")
    assert (bpe1.epochs, bpe1.batch_size, bpe1.learning_rate, bpe1.layers, bpe1.channels, bpe1.image_size,
            bpe1.precision, bpe1.cutout) == (10, 128, 0.03, 6, 8, 16, "fp32", 0)
    # under the paper's recipe (its AugmentConfig), which the recorded knobs do not hold
    assert (bpe1.auxiliary_weight, bpe1.drop_path, bpe1.weight_decay) == (0.4, 0.2, 3e-4)


def test_paper_truth_specs_and_their_errors(paper, data_dir, tmp_path):
    folder = str(data_dir / "bpe_paper")
    assert load_truth(f"bpe_paper:{folder}", space="darts").archs() == paper.archs()
    assert load_truth(folder, space="darts").fingerprint() == paper.fingerprint()
    with pytest.raises(TruthError, match="--space darts"):
        load_truth(folder, space="nb201")
    with pytest.raises(TruthError, match="not a record folder"):
        load_truth(str(tmp_path), space="darts")
    with pytest.raises(TruthError, match="not among the 100 cells"):
        paper.query(get_space("darts").sample(1, 99)[0])
    assert math.isfinite(paper.query(paper.archs()[5], "test32"))


def test_darts_genotype_lists_are_read_one_per_line(tmp_path):
    from bpe.archlists import read_arch_list

    archs = get_space("darts").sample(3, 0)
    path = tmp_path / "cells.txt"
    path.write_text("# three cells\n" + "\n".join(map(str, archs)) + "\n")
    assert read_arch_list(path, "darts") == [str(a) for a in archs]


def test_old_knob_grids_and_settings_with_cells_per_stage_still_work():
    from bpe.mip.knobs import load_knobs

    knobs = load_knobs({"cells_per_stage": [1, 2], "epochs": [1, 2]})
    assert knobs["layers"].values == (5, 8)
    assert knobs.to_config({"cells_per_stage": 2, "epochs": 1}).layers == 8
    assert BPEConfig().merged({"cells_per_stage": 2}).layers == 8


def test_drop_path_runs_are_reproducible():
    from bpe.data import DatasetSpec, prepare_split
    from bpe.training import train_and_evaluate

    data = prepare_split(DatasetSpec("digits"), 0.2)
    arch = get_space("darts").sample(1, 3)[0]
    config = BPEConfig(epochs=1, batch_size=64, channels=4, layers=4, image_size=8, drop_path=0.3)
    first = train_and_evaluate(arch, config, data, space="darts", device="cpu", num_threads=1)
    torch.rand(5)  # the global generator moves on between runs
    second = train_and_evaluate(arch, config, data, space="darts", device="cpu", num_threads=1)
    assert first.train_loss == second.train_loss and first.valid_accuracy == second.valid_accuracy


def test_listed_space_searches_only_the_listed_cells():
    from bpe.spaces import ListedSpace
    from search_algos.base import create_algorithm

    darts = get_space("darts")
    cells = darts.sample(20, 4)
    listed = ListedSpace(darts, cells)
    keys = {str(c) for c in cells}
    assert listed.size == 20 and listed.enumerable
    for name in ("random", "rea", "reinforce"):
        algo = create_algorithm(name, space=listed, seed=0)
        asked = []
        for step in range(20):
            asked.append(str(algo.ask()))
            algo.tell(asked[-1], float(step % 7))
        assert set(asked) <= keys
        if name == "random":  # without replacement: every cell once, then the space is exhausted
            assert sorted(asked) == sorted(keys)
            with pytest.raises(StopIteration):
                algo.ask()
    with pytest.raises(ArchStringError, match="not among the 20 listed"):
        listed.parse(str(darts.sample(1, 99)[0]))


# -- the CLI on the DARTS space ----------------------------------------------------------------

def test_cli_scores_evaluates_and_searches_the_papers_cells(tmp_path, data_dir):
    from bpe.cli import main

    folder = str(data_dir / "bpe_paper")
    out = tmp_path / "ev.json"
    # --archs all is the truth's 100 cells
    assert main(["evaluate", "--space", "darts", "--estimator", "oracle", "--truth", folder, "--metric", "test5",
                 "--archs", "all", "--out", str(out), "--quiet", "--no-plot"]) == 0
    assert json.loads(out.read_text())["n_archs"] == 100
    sc = tmp_path / "sc.csv"
    assert main(["score", "--space", "darts", "--estimator", "params", "--dataset", "digits", "--truth", folder,
                 "--archs", "6", "--channels", "4", "--layers", "5", "--image-size", "8", "--out", str(sc),
                 "--quiet"]) == 0
    frame = __import__("pandas").read_csv(sc)
    assert len(frame) == 6 and frame["params"].notna().all()
    assert set(frame["arch"]) <= set(BPEPaperBenchmark(folder).archs())
    se = tmp_path / "se.json"
    assert main(["search", "--space", "darts", "--algo", "random,rea,reinforce", "--estimator", "oracle",
                 "--truth", folder, "--metric", "accuracy", "--budget", "15", "--runs", "3", "--out", str(se),
                 "--quiet"]) == 0
    doc = json.loads(se.read_text())
    cells = set(BPEPaperBenchmark(folder).archs())
    assert all(r["arch"] in cells for r in doc["runs"])
    ts = tmp_path / "ts.json"  # two-stage: a training-free prescreen of listed cells, then the estimator
    assert main(["search", "--space", "darts", "--algo", "random", "--prescreen", "params", "--pool", "10",
                 "--estimator", "oracle", "--truth", folder, "--metric", "accuracy", "--budget", "15", "--runs", "1",
                 "--dataset", "digits", "--out", str(ts), "--quiet"]) == 0
    assert json.loads(ts.read_text())["runs"][0]["arch"] in cells
    assert main(["evaluate", "--space", "dart", "--estimator", "oracle", "--truth", folder, "--archs", "all",
                 "--out", str(tmp_path / "x.json"), "--quiet"]) == 2


def test_ranking_predictor_runs_on_the_darts_space(tmp_path, data_dir):
    """Without NB201's cell features the predictor ranks from the decision encoding (an MLP trunk):
    fit on some of the paper's cells, saved, loaded back as an estimator, same predictions."""
    from bpe.cli import main
    from bpe.estimators.renas import RankingPredictor

    folder = str(data_dir / "bpe_paper")
    paper = BPEPaperBenchmark(folder)
    archs = paper.archs()
    targets = [paper.query(a) for a in archs]
    pred = RankingPredictor(space="darts", epochs=20, seed=0).fit(archs[:40], targets[:40])
    scores = pred.predict(archs[40:])
    assert scores.shape == (60,) and np.isfinite(scores).all()
    path = pred.save(tmp_path / "p.pt")
    again = RankingPredictor.load(path)
    assert again.space == "darts" and np.allclose(again.predict(archs[40:]), scores)
    out = tmp_path / "ev.json"
    assert main(["predictor", "evaluate", "--space", "darts", "--truth", folder, "--metric", "accuracy",
                 "--train-size", "30", "--epochs", "20", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["n_test"] == 70


@pytest.mark.parametrize("name", available_spaces())
def test_graph_features_are_named_finite_and_tell_cells_apart(name):
    """Every space's graph features (what a learned blend or a feature predictor reads): one named
    column each, finite, the same for the same cell, different for cells that differ."""
    space = get_space(name)
    archs = space.sample(20, 0)
    names, values = space.graph_features(archs)
    assert values.shape == (20, len(names)) and len(set(names)) == len(names) and np.isfinite(values).all()
    assert np.array_equal(space.graph_features([str(a) for a in archs])[1], values)
    assert len({tuple(row) for row in values}) > 10
