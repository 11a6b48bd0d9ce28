"""MIP's estimator families and confirmation (bpe.mip.families): scorers and fitted blends as
candidates beside the settings, a seeded disjoint search/confirmation split that fitting never
reads across, the paired comparison that keeps the cheaper finalist, and every family's export
reused as ``--estimator bpe.json``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import bpe.mip.families as families
import bpe.mip.search as search
from bpe.cli import main
from bpe.errors import BPEError, ConfigError
from bpe.metrics import paired_bootstrap_difference, spearman
from bpe.mip.evaluators import LiveEvaluator, SettingResult
from bpe.mip.families import confirm, fit_blend_weight, split_archs
from bpe.records import EvalRecord

from support import TINY_BASE, TINY_REFERENCE, mip_argv, record_files, write


def test_split_is_seeded_disjoint_and_complete():
    archs = [f"a{i}" for i in range(20)]
    search_archs, confirm_archs = split_archs(archs, 0.3, seed=4)
    assert len(confirm_archs) == 6 and not set(search_archs) & set(confirm_archs)
    assert sorted(search_archs + confirm_archs) == sorted(archs)
    assert (search_archs, confirm_archs) == split_archs(archs, 0.3, seed=4)
    assert split_archs(archs, 0.3, seed=5) != (search_archs, confirm_archs)
    assert split_archs(archs, 0.0, seed=4) == (archs, [])
    with pytest.raises(ConfigError, match="--confirm 0"):
        split_archs(archs[:5], 0.3, seed=0)


def test_paired_difference_is_zero_for_one_estimator_and_positive_for_a_better_one():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=80)
    good, poor = truth + rng.normal(size=80) * 0.3, truth + rng.normal(size=80) * 3
    same = paired_bootstrap_difference(good, good, truth)
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]
    better = paired_bootstrap_difference(good, poor, truth, seed=1)
    assert better["ci95"][0] > 0 and better["difference"] == pytest.approx(spearman(good, truth) - spearman(poor, truth))
    assert paired_bootstrap_difference(poor, good, truth, seed=1)["ci95"][1] < 0


def test_blend_weight_follows_the_informative_member():
    rng = np.random.default_rng(1)
    truth = list(rng.normal(size=60))
    informative = [t + 0.2 * e for t, e in zip(truth, rng.normal(size=60))]
    noise = list(rng.normal(size=60))
    w, cv = fit_blend_weight(informative, noise, truth, folds=5, seed=0)
    assert w >= 0.8 and cv > 0.8
    assert fit_blend_weight(noise, informative, truth, folds=5, seed=0)[0] <= 0.2


def _result(name, family, cost, scores, truths, setting=None):
    return SettingResult(setting=setting or {"scorer": name}, spearman=spearman(scores, truths), kendall=math.nan,
                         spearman_ci95=[math.nan, math.nan], kendall_ci95=[math.nan, math.nan], cost_per_arch=cost,
                         n_archs=len(scores), n_ok=len(scores), name=name, family=family, scores=list(scores))


class _FakeConfirmation:
    """Confirmation archs whose scores are given per finalist name."""

    def __init__(self, truths, scores):
        self._truths, self.scores, self.seed = truths, scores, 0

    def truths(self):
        return self._truths


def test_confirmation_keeps_the_cheaper_unless_the_dearer_is_better_beyond_noise(monkeypatch):
    rng = np.random.default_rng(2)
    truth = list(rng.normal(size=100))
    near = [t + rng.normal() * 1.0 for t in truth]
    close = [t + rng.normal() * 1.0 for t in truth]
    far_better = [t + rng.normal() * 0.1 for t in truth]
    cheap = _result("cheap", "scorer", 0.1, near, truth)
    dear_same = _result("dear-same", "proxy", 10.0, close, truth, setting={"epochs": 1})
    fake = _FakeConfirmation(truth, {"cheap": near, "dear-same": close, "dear-better": far_better})
    monkeypatch.setattr(families, "remeasure",
                        lambda r, ev: _result(r.name, r.family, r.cost_per_arch, ev.scores[r.name], ev.truths()))
    settings = families.FamilySettings(n_boot=400)
    decision = confirm([cheap, dear_same], fake, settings, say=lambda _: None)
    assert decision["chosen"] == 0 and not decision["comparisons"][0]["replaces"]
    dear_better = _result("dear-better", "blend", 20.0, far_better, truth, setting={"blend": "x"})
    decision = confirm([cheap, dear_same, dear_better], fake, settings, say=lambda _: None)
    assert decision["chosen"] == 2 and decision["comparisons"][-1]["replaces"]
    assert decision["comparisons"][-1]["ci95"][0] > 0


@pytest.mark.slow  # a whole live MIP with every family (10 s): the slow tier, which .ci/run runs too
def test_live_mip_with_families_never_fits_on_confirmation_archs(tmp_path, monkeypatch, capsys):
    """Importance, blend fitting and every candidate's search rho read only the search archs' truths;
    the confirmation archs' truths are read once the finalists are fixed. A test that fails if
    the rounds or the fitting read a confirmation arch."""
    events: list[tuple[str, tuple]] = []
    original_truths = LiveEvaluator.truths

    def spy_truths(self):
        events.append(("truths", tuple(self.archs)))
        return original_truths(self)

    original_importance = search.knob_importance

    def spy_importance(*args, **kwargs):
        events.append(("importance", ()))
        return original_importance(*args, **kwargs)

    original_fit = families.fit_blend_weight

    def spy_fit(a, b, truths, **kwargs):
        events.append(("fit", (len(truths),)))
        return original_fit(a, b, truths, **kwargs)

    original_fit_rows = families.fit_rows

    def spy_fit_rows(rows, archs, targets, **kwargs):
        events.append(("learn", tuple(archs)))
        return original_fit_rows(rows, archs, targets, **kwargs)

    original_finalists = families.finalists

    def spy_finalists(*args, **kwargs):
        events.append(("finalists", ()))
        return original_finalists(*args, **kwargs)

    monkeypatch.setattr(LiveEvaluator, "truths", spy_truths)
    monkeypatch.setattr(search, "knob_importance", spy_importance)
    monkeypatch.setattr(families, "fit_blend_weight", spy_fit)
    monkeypatch.setattr(families, "fit_rows", spy_fit_rows)
    monkeypatch.setattr("bpe.mip.job.finalists", spy_finalists)
    out = tmp_path / "bpe.json"
    argv = mip_argv(tmp_path, out, tmp_path / "c", "--scorers", "params,synflow", "--confirm", "0.4", "--rounds", "2",
                    archs=10, families=True)
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    m = doc["measured"]
    search_archs, confirm_archs = m["search_archs"], m["confirmation_archs"]
    assert len(confirm_archs) == 4 and not set(search_archs) & set(confirm_archs)
    assert sorted(search_archs + confirm_archs) == sorted(m["archs"])
    first_confirm_read = next(i for i, (kind, archs) in enumerate(events)
                              if kind == "truths" and set(archs) & set(confirm_archs))
    fitting = [i for i, (kind, _) in enumerate(events) if kind in ("importance", "fit", "finalists")]
    assert fitting and max(fitting) < first_confirm_read
    # every fold's fit, the final one, and its refit to score the confirmation archs: search archs only
    learned = [archs for kind, archs in events if kind == "learn"]
    assert learned and all(set(archs) <= set(search_archs) for archs in learned)
    assert all(set(archs) == set(search_archs) for kind, archs in events[:first_confirm_read] if kind == "truths")
    assert all(size == (len(search_archs),) for kind, size in events if kind == "fit")
    # every family is in the trajectory and named; the export and its forecast are recorded
    assert {t["family"] for t in doc["trajectory"]} >= {"proxy", "scorer", "blend", "learned"}
    assert doc["estimator"]["family"] == m["family"] in ("proxy", "scorer", "blend", "learned")
    assert {f["family"] for f in doc["confirmation"]["finalists"]} == {"proxy", "scorer", "blend", "learned"}
    assert m["confirmation_n_archs"] == 4 and m["confirmation_spearman"] is not None
    printed = capsys.readouterr().out
    assert "chosen [" in printed and "forecast: spearman" in printed
    # the export is an estimator wherever one is taken
    assert main(["evaluate", "--estimator", str(out), "--dataset", "digits", "--truth", "reference",
                 "--reference-config", write(tmp_path / "ref.json", TINY_REFERENCE), "--archs", "4",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "e.json"), "--quiet",
                 "--noise-archs", "0"]) == 0


@pytest.mark.parametrize("family", ["scorer", "assembly", "blend"])
def test_a_scorer_or_blend_export_is_reused_as_bpe_json(family, tmp_path, capsys):
    """A bpe.json whose export is a training-free scorer scores like that scorer (an assembly,
    ``az_nas``, too); a fitted blend scores as its weighted rank-average; both rank archs scored
    together, so they refuse one-by-one search with one clear error."""
    proxy = {"family": "proxy", "config": {**TINY_BASE, "epochs": 1, "channels": 2}}
    name = {"scorer": "params", "assembly": "az_nas"}.get(family)
    pinned = {"channels": 4, "layers": 5} if family == "assembly" else {}  # a tiny network: a fast test
    estimator = ({"family": "scorer", "name": name, **({"options": pinned} if pinned else {})} if name else
                 {"family": "blend", "members": [{"family": "scorer", "name": "params"}, proxy], "weights": [0.3, 0.7]})
    path = write(tmp_path / "bpe.json", {"kind": "bpe-mip", "estimator": estimator, "config": None, "measured": None})
    common = ["--dataset", "digits", "--truth", "reference", "--reference-config",
              write(tmp_path / "ref.json", TINY_REFERENCE), "--archs", "5", "--cache-dir", str(tmp_path / "c"),
              "--quiet", "--noise-archs", "0"]
    assert main(["evaluate", "--estimator", path, *common, "--out", str(tmp_path / "a.json")]) == 0
    ours = json.loads((tmp_path / "a.json").read_text())
    if name == "params":
        assert main(["evaluate", "--estimator", name, *common, "--out", str(tmp_path / "b.json")]) == 0
        theirs = [r["score"] for r in json.loads((tmp_path / "b.json").read_text())["records"]]
        assert [r["score"] for r in ours["records"]] == theirs and len(set(theirs)) > 1
    elif name:  # the assembly at the network it pinned, scored together
        from bpe.data import DatasetSpec
        from bpe.estimators import estimator_from_spec
        from bpe.parallel import Runner

        archs = [r["arch"] for r in ours["records"]]
        scorer = estimator_from_spec(name, dataset=DatasetSpec("digits"), space="nb201", options=pinned)
        theirs = [r.score for r in Runner(progress=False).run(scorer, archs)]
        assert [r["score"] for r in ours["records"]] == pytest.approx(theirs) and len(set(theirs)) > 1
        assert "C=4, N=1" in ours["estimator"]["description"]  # the pinned network, not the space's default
    else:
        assert ours["estimator"]["name"] == "blend" and ours["estimator"]["weights"] == [0.3, 0.7]
    if family != "scorer":
        capsys.readouterr()
        code = main(["search", "--algo", "random", "--estimator", path, "--dataset", "digits", "--budget", "2",
                     "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "s.json"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "together" in err and len(err.strip().splitlines()) == 1


def test_bad_confirmation_share_and_unknown_scorer_exit_2_before_any_work(tmp_path, capsys):
    out = tmp_path / "bpe.json"
    assert main(mip_argv(tmp_path, out, tmp_path / "c", "--scorers", "mecoo", archs=10, families=True)) == 2
    assert "mecoo" in capsys.readouterr().err
    assert main(mip_argv(tmp_path, out, tmp_path / "c", "--confirm", "1.5", archs=10, families=True)) == 2
    assert "confirmation share" in capsys.readouterr().err
    assert not out.exists() and not record_files(tmp_path / "c")


@pytest.mark.parametrize("name", ["meco", "az_nas"])
def test_an_exported_scorer_scores_the_network_it_pinned(name, tmp_path):
    """``bpe.json`` pins the network its scorer scored; reading it builds that network, not the
    space's default, unless an option given beside it says otherwise."""
    from bpe.estimators import estimator_from_spec

    path = write(tmp_path / "bpe.json", {"kind": "bpe-mip", "config": None, "estimator": {
        "family": "scorer", "name": name, "options": {"channels": 4, "layers": 5}}})
    pinned = estimator_from_spec(path, space="nb201")
    assert (pinned.name, pinned.channels, pinned.layers) == (name, 4, 5)
    given = estimator_from_spec(path, space="nb201", options={"channels": 8, "layers": None})
    assert (given.channels, given.layers) == (8, 5)


def test_a_scorer_export_is_not_a_training_config(tmp_path):
    from bpe.config import BPEConfig

    path = write(tmp_path / "bpe.json", {"kind": "bpe-mip", "estimator": {"family": "scorer", "name": "meco"},
                                         "config": None})
    with pytest.raises(BPEError, match="exports a scorer, not a training setting"):
        BPEConfig.from_json(path)


def test_the_darts_knob_grid_is_validated_before_any_work(tmp_path, capsys, monkeypatch):
    """``darts-cpu`` (the default with --space darts) builds and runs the DARTS network at both
    corners of its grids; the same grids on NB201 (no auxiliary head) are refused before any
    training, as is a grid whose dearest corner cannot build."""
    from bpe.mip.job import check_knobs_on_space
    from bpe.mip.knobs import knob_preset, load_knobs
    from bpe.spaces import get_space

    darts_arch = str(get_space("darts").sample(1, 0)[0])
    check_knobs_on_space(knob_preset("darts-cpu"), "darts", darts_arch)
    assert knob_preset("darts-cpu").base.auxiliary_weight > 0 and knob_preset("darts-cpu").base.grad_clip > 0
    with pytest.raises(BPEError, match="cannot train on the nb201 space.*auxiliary"):
        check_knobs_on_space(knob_preset("darts-cpu"), "nb201", str(get_space("nb201").sample(1, 0)[0]))
    space = get_space("darts")
    build = space.build

    def build_small_only(arch, **size):  # stands in for a size the space cannot take
        if size["channels"] > 8:
            raise RuntimeError("too wide")
        return build(arch, **size)

    monkeypatch.setattr(space, "build", build_small_only)
    with pytest.raises(BPEError, match="dearest corner.*does not build.*too wide"):
        check_knobs_on_space(load_knobs({"channels": [4, 12]}, preset="darts-cpu"), "darts", darts_arch)
    monkeypatch.undo()
    out = tmp_path / "bpe.json"
    argv = mip_argv(tmp_path, out, tmp_path / "c", archs=10)
    argv[argv.index("--knobs") + 1] = "darts-cpu"
    del argv[argv.index("--base-config"):argv.index("--base-config") + 2]  # the preset's base: the DARTS recipe
    assert main(argv) == 2
    assert "auxiliary" in capsys.readouterr().err
    assert not out.exists() and not record_files(tmp_path / "c")


def test_an_unusable_finalist_is_never_exported(monkeypatch):
    """A finalist that scores too few confirmation archs (nan rho) is skipped, even the cheapest."""
    rng = np.random.default_rng(3)
    truth = list(rng.normal(size=40))
    fine = [t + rng.normal() for t in truth]
    broken = _result("broken", "scorer", 0.1, [None] * 40, truth)
    broken.spearman = math.nan
    usable = _result("usable", "proxy", 5.0, fine, truth, setting={"epochs": 1})
    fake = _FakeConfirmation(truth, {"broken": [None] * 40, "usable": fine})

    def remeasure(r, ev):
        out = _result(r.name, r.family, r.cost_per_arch, ev.scores[r.name], ev.truths())
        if r.name == "broken":
            out.spearman = math.nan
        return out

    monkeypatch.setattr(families, "remeasure", remeasure)
    decision = confirm([broken, usable], fake, families.FamilySettings(n_boot=200), say=lambda _: None)
    assert decision["chosen"] == 1 and decision["comparisons"][0]["note"] == "unusable on the confirmation archs"


def test_scorers_must_be_training_free_scorers(tmp_path, capsys):
    for bad in ("vote", "blend", "oracle", "bpe", "renas"):
        assert main(mip_argv(tmp_path, tmp_path / "bpe.json", tmp_path / "c", "--scorers", bad, archs=10,
                             families=True)) == 2
        assert "takes training-free scorers" in capsys.readouterr().err


def test_learned_candidate_is_scored_out_of_fold_and_beats_its_members_on_an_interaction():
    """The truth depends on two scorers jointly (neither ranks it alone); the learned blend's rho is
    its out-of-fold rho (below the in-sample fit), above either member's, and its export refits
    to the same model."""
    from bpe.estimators.learned import fit_rows, predict_rows
    from bpe.spaces import get_space

    rng = np.random.default_rng(5)
    archs = [str(a) for a in get_space("nb201").sample(80, 3)]
    a, b = rng.uniform(size=80), rng.uniform(size=80)
    truth = list(np.minimum(a, b) + 0.05 * rng.normal(size=80))
    scorers = [_result("sa", "scorer", 0.1, list(a), truth), _result("sb", "scorer", 2.0, list(b), truth)]
    result = families.learned_candidate(scorers, [], archs, truth, space="nb201", folds=5, seed=0)
    assert result.family == "learned"
    assert result.spearman == pytest.approx(spearman(result.scores, truth))
    assert result.spearman > max(s.spearman for s in scorers) + 0.1
    assert result.extra["in_sample_spearman"] > result.spearman  # the fit flatters itself; the reported rho does not
    rows = [row for row in result.extra["cv_table"] if "features" in row]
    assert {row["features"] for row in rows} == {"scorers", "scorers + cell", "cheap scorers + cell"}
    chosen = result.extra["cv_table"][-1]["chosen"]  # the cheapest within one standard error of the best
    best = max(rows, key=lambda r: r["cv_spearman"])
    picked = next(r for r in rows if (r["features"], r["min_samples_leaf"]) ==
                  (chosen["features"], chosen["min_samples_leaf"]))
    assert picked["cv_spearman"] >= best["cv_spearman"] - best["cv_se"]
    assert all(r["cost_per_arch"] >= picked["cost_per_arch"] for r in rows
               if r["cv_spearman"] >= best["cv_spearman"] - best["cv_se"])
    assert result.cost_per_arch == pytest.approx(picked["cost_per_arch"])
    spec = result.extra["spec"]
    assert spec["archs"] == archs and spec["targets"] == truth and spec["members"][0] == {"family": "scorer",
                                                                                          "name": "sa"}
    fitted = fit_rows(spec["rows"], spec["archs"], spec["targets"], model=spec["model"], cell=spec["cell"],
                      space="nb201")
    again = fit_rows(spec["rows"], spec["archs"], spec["targets"], model=spec["model"], cell=spec["cell"],
                     space="nb201")
    assert predict_rows(fitted, spec["rows"], archs, cell=spec["cell"], space="nb201") == predict_rows(
        again, spec["rows"], archs, cell=spec["cell"], space="nb201")
    # too few labelled archs: no candidate rather than a fit on noise
    assert families.learned_candidate(scorers, [], archs[:5], truth[:5], space="nb201", folds=5, seed=0) is None


def test_a_learned_export_scores_like_its_model_and_searches_one_by_one(tmp_path):
    """A bpe.json exporting a learned blend of two data-free scorers: bpe evaluate scores each arch
    as the refitted model predicts from its members' scores, and bpe search (one arch at a time) runs."""
    from bpe.estimators import create_estimator
    from bpe.estimators.learned import fit_rows, predict_rows
    from bpe.spaces import get_space

    archs = [str(a) for a in get_space("nb201").sample(30, 1)]
    members = [create_estimator("params"), create_estimator("flops")]
    rows = [[m.evaluate(a).score for a in archs[:20]] for m in members]
    targets = [float(a.count("conv_3x3")) for a in archs[:20]]
    spec = {"family": "learned", "members": [{"family": "scorer", "name": "params"}, {"family": "scorer", "name": "flops"}],
            "rows": rows, "archs": archs[:20], "targets": targets, "model": {"kind": "extra-trees", "n_estimators": 20,
                                                                              "min_samples_leaf": 1, "seed": 0},
            "cell": True, "space": "nb201"}
    path = write(tmp_path / "bpe.json", {"kind": "bpe-mip", "estimator": spec, "config": None, "measured": None})
    table = tmp_path / "truth.csv"
    table.write_text("arch_str,acc\n" + "".join(f"{a},{a.count('conv') + 0.5 * a.count('skip')}\n" for a in archs))
    arch_file = tmp_path / "archs.txt"
    arch_file.write_text("\n".join(archs[20:]) + "\n")
    assert main(["evaluate", "--estimator", path, "--truth", str(table), "--metric", "acc", "--archs", str(arch_file),
                 "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "e.json"), "--quiet",
                 "--noise-archs", "0"]) == 0
    records = json.loads((tmp_path / "e.json").read_text())["records"]
    fitted = fit_rows(rows, archs[:20], targets, model=spec["model"], cell=True, space="nb201")
    columns = [[m.evaluate(a).score for a in archs[20:]] for m in members]
    expected = predict_rows(fitted, columns, archs[20:], cell=True, space="nb201")
    assert [r["score"] for r in records] == pytest.approx(expected)
    assert main(["search", "--algo", "random", "--estimator", path, "--budget", "3", "--cache-dir",
                 str(tmp_path / "c"), "--out", str(tmp_path / "s.json"), "--quiet"]) == 0


def test_a_chosen_learned_blend_is_refitted_on_every_labelled_arch():
    """The export of a chosen learned blend is fitted on the search and the confirmation archs (the
    confirmation's member scores and truths); the search-only model is kept beside it."""
    from bpe.spaces import get_space

    rng = np.random.default_rng(6)
    archs = [str(a) for a in get_space("nb201").sample(60, 4)]
    a = rng.uniform(size=60)
    truth = list(a + 0.1 * rng.normal(size=60))
    search, confirm_idx = list(range(40)), list(range(40, 60))
    scorer = _result("sa", "scorer", 0.1, [a[i] for i in search], [truth[i] for i in search])
    chosen = families.learned_candidate([scorer], [], [archs[i] for i in search], [truth[i] for i in search],
                                        space="nb201", folds=5, seed=0)
    confirmed = _result("learned", "learned", 0.1, [a[i] for i in confirm_idx], [truth[i] for i in confirm_idx])
    confirmed.extra["columns"] = [[a[i] for i in confirm_idx]]
    confirm_truths = [truth[i] for i in confirm_idx]
    confirm_truths[0] = None  # an arch without a truth is not a row
    families.refit_on_confirmation(chosen, confirmed, [archs[i] for i in confirm_idx], confirm_truths)
    spec, before = chosen.extra["spec"], chosen.extra["spec_search"]
    assert len(before["archs"]) == 40 and len(spec["archs"]) == 59 and spec["fitted_on"] == {
        "search_archs": 40, "confirmation_archs": 19}
    assert spec["archs"][:40] == before["archs"] and spec["archs"][40:] == [archs[i] for i in confirm_idx[1:]]
    assert spec["rows"][0][40:] == [a[i] for i in confirm_idx[1:]] and spec["targets"][40:] == confirm_truths[1:]


def test_learned_feature_sets_over_the_cap_are_not_tried_and_a_wrong_dataset_is_refused(tmp_path):
    from bpe.errors import EstimatorError
    from bpe.estimators import estimator_from_spec
    from bpe.spaces import get_space

    rng = np.random.default_rng(7)
    archs = [str(a) for a in get_space("nb201").sample(40, 5)]
    a, b = rng.uniform(size=40), rng.uniform(size=40)
    truth = list(a + b)
    scorers = [_result("sa", "scorer", 0.1, list(a), truth), _result("sb", "scorer", 3.0, list(b), truth)]
    result = families.learned_candidate(scorers, [], archs, truth, space="nb201", folds=5, seed=0, max_cost=1.0)
    tried = {row["features"] for row in result.extra["cv_table"] if "features" in row}
    assert tried == {"cheap scorers + cell"} and result.cost_per_arch <= 1.0
    assert families.learned_candidate(scorers, [], archs, truth, space="nb201", folds=5, seed=0, max_cost=0.05) is None
    spec = {**result.extra["spec"], "members": [{"family": "scorer", "name": "params"}], "rows": [list(a)],
            "dataset": "cifar10"}
    path = write(tmp_path / "bpe.json", {"kind": "bpe-mip", "estimator": spec, "config": None})
    from bpe.data import DatasetSpec

    with pytest.raises(EstimatorError, match="fitted on its members' scores on cifar10"):
        estimator_from_spec(path, dataset=DatasetSpec("digits"))


def _small_confirmation(monkeypatch, seed: int, cheap_noise: float, dear_noise: float) -> tuple[dict, list[str]]:
    """(decision, lines said) of a cheap scorer against a dear setting on 12 confirmation archs,
    each the truth plus Gaussian noise of the given scale."""
    rng = np.random.default_rng(seed)
    truth = list(rng.normal(size=12))
    cheap_scores = [t + rng.normal() * cheap_noise for t in truth]
    dear_scores = [t + rng.normal() * dear_noise for t in truth]
    cheap = _result("cheap", "scorer", 0.1, cheap_scores, truth)
    dear = _result("dear", "proxy", 9.0, dear_scores, truth, setting={"epochs": 1})
    fake = _FakeConfirmation(truth, {"cheap": cheap_scores, "dear": dear_scores})
    monkeypatch.setattr(families, "remeasure",
                        lambda r, ev: _result(r.name, r.family, r.cost_per_arch, ev.scores[r.name], ev.truths()))
    said: list[str] = []
    return confirm([cheap, dear], fake, families.FamilySettings(n_boot=300), say=said.append), said


def test_a_confirmation_too_small_to_decide_says_so(monkeypatch):
    """With a handful of confirmation archs every paired interval is wide: the cheapest finalist is
    kept by the rule, and MIP says that this was not evidence (and records it)."""
    decision, said = _small_confirmation(monkeypatch, 8, 2.0, 2.0)
    assert decision["underpowered"] and decision["chosen"] == 0
    assert any("cannot tell these finalists apart" in line for line in said)


def test_trees_and_ridge_is_the_mean_of_its_two_models_and_scores_each_arch_on_its_own():
    """``trees+ridge``: the ridge sees each score as its empirical CDF among the fitted rows (by
    hand), the prediction is the mean of the two models, and one arch's prediction does not
    depend on the archs predicted with it."""
    from bpe.estimators.learned import TreesAndRidge, empirical_cdf, fit_model

    reference = np.array([[1.0, 10.0], [2.0, 30.0], [3.0, 20.0], [4.0, 40.0]])
    assert empirical_cdf(reference, np.array([[2.5, 5.0], [4.0, 30.0]])).tolist() == [[0.5, 0.0], [1.0, 0.75]]
    rng = np.random.default_rng(0)
    features = np.hstack([rng.normal(size=(40, 2)), rng.integers(0, 3, size=(40, 3)).astype(float)])
    targets = np.argsort(np.argsort(features[:, 0] + 0.3 * features[:, 2])) / 40.0
    model = fit_model(features, targets, {"kind": "trees+ridge", "n_estimators": 20, "seed": 0}, n_scores=2)
    assert isinstance(model, TreesAndRidge)
    both = model.predict(features[:5])
    ridge = model.ridge.predict(np.hstack([empirical_cdf(features[:, :2], features[:5, :2]), features[:5, 2:]]))
    assert both == pytest.approx((model.trees.predict(features[:5]) + ridge) / 2)
    alone = [float(model.predict(features[i:i + 1])[0]) for i in range(5)]
    assert alone == pytest.approx(both.tolist())
    again = fit_model(features, targets, {"kind": "trees+ridge", "n_estimators": 20, "seed": 0}, n_scores=2)
    assert again.predict(features).tolist() == model.predict(features).tolist()
    assert spearman(model.predict(features).tolist(), targets.tolist()) > 0.8
    with pytest.raises(BPEError, match="must be one of"):
        fit_model(features, targets, {"kind": "svm"})


def test_confirmation_pools_the_search_archs_only_where_both_scores_are_untuned(monkeypatch):
    """A learned blend against a scorer is judged on the confirmation archs *and* the search archs
    (its nested out-of-fold scores, the scorer's raw ones): 15 confirmation archs alone cannot
    separate them, 15 + 60 can.  A setting against the scorer is judged on the confirmation archs
    alone (it was chosen on the search archs), even with the same scores."""
    rng = np.random.default_rng(5)
    search_truth, confirm_truth = list(rng.normal(size=60)), list(rng.normal(size=15))
    weak = [[t + rng.normal() * 0.8 for t in truth] for truth in (search_truth, confirm_truth)]
    strong = [[t + rng.normal() * 0.2 for t in truth] for truth in (search_truth, confirm_truth)]
    scorer = _result("scorer", "scorer", 0.1, weak[0], search_truth)
    learned = _result("learned", "learned", 1.0, strong[0], search_truth)
    proxy = _result("proxy", "proxy", 1.0, strong[0], search_truth, setting={"epochs": 1})
    fake = _FakeConfirmation(confirm_truth, {"scorer": weak[1], "learned": strong[1], "proxy": strong[1]})
    monkeypatch.setattr(families, "remeasure",
                        lambda r, ev: _result(r.name, r.family, r.cost_per_arch, ev.scores[r.name], ev.truths()))
    monkeypatch.setattr(families, "refit_on_confirmation", lambda *a: None)  # tested on its own above
    fake.archs = [f"arch{i}" for i in range(15)]
    learned.extra["spec"] = {"archs": []}
    settings = families.FamilySettings(n_boot=400)
    alone = confirm([scorer, learned], fake, settings, say=lambda _: None)
    assert alone["comparisons"][0]["n_archs"] == 15 and alone["comparisons"][0]["evidence"] == "confirmation archs"
    pooled = confirm([scorer, learned], fake, settings, say=lambda _: None, search_truths=search_truth)
    assert pooled["comparisons"][0]["n_archs"] == 75 and pooled["chosen"] == 1
    assert pooled["comparisons"][0]["ci95"][0] > 0
    assert pooled["comparisons"][0]["ci95"][1] - pooled["comparisons"][0]["ci95"][0] < (
        alone["comparisons"][0]["ci95"][1] - alone["comparisons"][0]["ci95"][0])
    setting = confirm([scorer, proxy], fake, settings, say=lambda _: None, search_truths=search_truth)
    assert setting["comparisons"][0]["n_archs"] == 15
    assert setting["comparisons"][0]["evidence"] == "confirmation archs"


def test_a_learned_blend_pays_a_shared_measurement_once():
    """AZ-NAS's three measures read one measurement: a blend of them costs it once, not three times."""
    truth = [1.0, 2.0, 3.0]
    shared = [_result(n, "scorer", 1.3, truth, truth) for n in ("az_expressivity", "az_trainability")]
    for r in shared:
        r.extra["measurement"] = "az"
    alone = _result("meco", "scorer", 0.1, truth, truth)
    proxy = _result("proxy", "proxy", 9.0, truth, truth, setting={"epochs": 1})
    assert families._learned_cost([*shared, alone]) == pytest.approx(1.4)
    assert families._learned_cost([*shared, alone, proxy]) == pytest.approx(10.4)


def test_an_assembly_is_pooled_on_the_labelled_archs_scored_together(monkeypatch):
    """An assembly (``az_nas``) ranks the archs scored together, so its search and confirmation
    scores are ranks in two populations: the pooled comparison reads its scores over the search
    and confirmation archs scored as one population (``joint``), never the two lists end to end;
    without them it is judged on the confirmation archs alone."""
    rng = np.random.default_rng(7)
    search_truth, confirm_truth = list(rng.normal(size=60)), list(rng.normal(size=15))
    strong = [[t + rng.normal() * 0.2 for t in truth] for truth in (search_truth, confirm_truth)]
    weak = [[t + rng.normal() * 0.8 for t in truth] for truth in (search_truth, confirm_truth)]
    assembly = _result("az_nas", "scorer", 0.1, weak[0], search_truth)
    assembly.extra["population"] = True
    learned = _result("learned", "learned", 1.0, strong[0], search_truth)
    learned.extra["spec"] = {"archs": []}
    fake = _FakeConfirmation(confirm_truth, {"az_nas": weak[1], "learned": strong[1]})
    fake.archs = [f"arch{i}" for i in range(15)]
    monkeypatch.setattr(families, "remeasure",
                        lambda r, ev: _result(r.name, r.family, r.cost_per_arch, ev.scores[r.name], ev.truths()))
    monkeypatch.setattr(families, "refit_on_confirmation", lambda *a: None)
    settings = families.FamilySettings(n_boot=400)
    asked = []

    def joint(finalist):  # the assembly over all 75 labelled archs: as good as the learned blend there
        asked.append(finalist.name)
        return strong[0] + strong[1]

    pooled = confirm([assembly, learned], fake, settings, say=lambda _: None, search_truths=search_truth, joint=joint)
    assert asked == ["az_nas"]  # only the assembly's scores are re-read together
    comparison = pooled["comparisons"][0]
    assert comparison["n_archs"] == 75 and comparison["difference"] == pytest.approx(0.0)
    assert pooled["chosen"] == 0  # level: the cheaper assembly stays
    end_to_end = confirm([assembly, learned], fake, settings, say=lambda _: None, search_truths=search_truth)
    assert end_to_end["comparisons"][0]["n_archs"] == 15  # no joint scores: not pooled


def test_an_assembly_is_a_candidate_but_never_a_member_of_a_fitted_blend():
    """``az_nas`` is a scorer candidate of its own (and the best one here), while the fitted
    blends and the learned blend are built from scorers that score an arch alone."""
    rng = np.random.default_rng(8)
    truth = list(rng.normal(size=40))
    scores = {"az_nas": [t + rng.normal() * 0.1 for t in truth], "meco": [t + rng.normal() * 0.6 for t in truth],
              "params": [t + rng.normal() * 0.9 for t in truth]}

    from bpe.spaces import get_space

    class Evaluator:
        archs = [str(a) for a in get_space("nb201").sample(40, np.random.default_rng(0))]
        space, seed = "nb201", 0
        dataset = type("D", (), {"name": "digits"})()

        def truths(self):
            return truth

        def scorer_result(self, name):
            r = _result(name, "scorer", 0.5, scores[name], truth)
            if name == "az_nas":
                r.extra["population"] = True
            return r

    settings = families.FamilySettings(scorers=("az_nas", "meco", "params"), n_boot=50)
    out = families.family_candidates(Evaluator(), [], settings, max_cost=None, say=lambda _: None)
    scorers = [c for c in out if c.family == "scorer"]
    assert max(scorers, key=lambda c: c.spearman).name == "az_nas"
    fitted = [c for c in out if c.family in ("blend", "learned")]
    assert fitted and all("az_nas" not in c.name for c in fitted)
    assert all(m["name"] != "az_nas" for c in fitted for m in c.extra.get("members", []))


def test_mip_takes_an_assembly_of_training_free_measures_as_a_scorer():
    from bpe.mip.job import check_scorer_name

    for name in ("az_nas", "vkdnw_agg", "meco"):
        check_scorer_name(name, "--scorers")
    for name in ("vote", "blend", "oracle"):
        with pytest.raises(BPEError, match="takes training-free scorers"):
            check_scorer_name(name, "--scorers")


def test_an_undecided_comparison_says_how_many_archs_would_decide_it(monkeypatch):
    """A paired interval's half-width shrinks as one over the root of the archs: the estimate is
    the archs at which the measured difference would clear it (none for a dearer finalist that
    ranks lower); an underpowered confirmation names the closest call."""
    from bpe.mip.families import archs_to_decide

    assert archs_to_decide({"difference": 0.35, "ci95": [-0.41, 1.11], "n_archs": 15}) == 71
    assert archs_to_decide({"difference": 0.5, "ci95": [0.1, 0.9], "n_archs": 40}) == 40  # already decided
    assert archs_to_decide({"difference": -0.2, "ci95": [-0.9, 0.5], "n_archs": 15}) is None
    assert archs_to_decide({"difference": math.nan, "ci95": [math.nan, math.nan], "n_archs": 3}) is None
    decision, said = _small_confirmation(monkeypatch, 11, 3.0, 0.8)
    comparison = decision["comparisons"][0]
    assert decision["underpowered"] and comparison["difference"] > 0 and not comparison["replaces"]
    assert comparison["archs_to_decide"] == archs_to_decide(comparison) > 12
    assert any(f"about {comparison['archs_to_decide']} archs" in line for line in said)


def test_an_assemblys_joint_scores_rank_search_then_confirmation_archs_without_reading_a_truth():
    """What the confirmation pools for an assembly: its scorer run once over the search archs and
    then the confirmation archs, as one population, through the runner (its cache); no truth read."""
    from bpe.mip.job import joint_scores

    runs = []

    class Runner:
        def run(self, scorer, archs, desc=""):
            runs.append((scorer, list(archs)))
            return [EvalRecord(arch=a, score=float(i) if a != "c2" else None, status="ok" if a != "c2" else "failed")
                    for i, a in enumerate(archs)]

    class Evaluator:
        archs, runner = ["s1", "s2", "s3"], Runner()

        def scorer(self, name):
            return type("Scorer", (), {"name": name})()

        def truths(self):
            raise AssertionError("the joint scores read no truth")

    finalist = _result("az_nas(...)", "scorer", 1.0, [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], setting={"scorer": "az_nas"})
    scores = joint_scores(Evaluator(), ["c1", "c2"])(finalist)
    assert runs[0][0].name == "az_nas" and runs[0][1] == ["s1", "s2", "s3", "c1", "c2"]
    assert scores == [0.0, 1.0, 2.0, 3.0, None]


def test_an_unpinned_scorer_export_is_read_at_the_default_with_a_warning(tmp_path, caplog):
    """A bpe.json written before scorers were pinned names its scorer alone: it is read at this
    version's default network, and says so."""
    from bpe.estimators import estimator_from_spec

    path = write(tmp_path / "bpe.json", {"kind": "bpe-mip", "config": None,
                                         "estimator": {"family": "scorer", "name": "meco"}})
    with caplog.at_level("WARNING"):
        scorer = estimator_from_spec(path, space="nb201")
    assert (scorer.channels, scorer.layers) == (16, 17) and "without the network it scored" in caplog.text
    caplog.clear()
    pinned = write(tmp_path / "pinned.json", {"kind": "bpe-mip", "config": None, "estimator": {
        "family": "scorer", "name": "meco", "options": {"channels": 16, "layers": 17}}})
    with caplog.at_level("WARNING"):
        estimator_from_spec(pinned, space="nb201")
    assert "without the network" not in caplog.text
