"""Search drivers: determinism, budgets, estimator kinds, duplicate handling, CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bpe.cli import main
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.estimators import Estimator, EvalRecord, create_estimator
from bpe.estimators.base import Cost
from bpe.spaces import nb201
from bpe.truth import Benchmark
from bpe.truth.table import TableBenchmark
from search_algos.base import available_algorithms, create_algorithm
from search_algos.budget import Budget, parse_budget
from search_algos.loop import run_search
from search_algos.runs import TRUE_METRICS

ALGOS = available_algorithms()


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """A synthetic NB201 table for all 15,625 cells: accuracy grows with 3x3 convs; 10 s per epoch
    plus 2 s per conv (so costs differ between archs)."""
    rng = np.random.default_rng(0)
    rows = []
    for arch in nb201.enumerate_archs():
        s = str(arch)
        base = 80 + 2.0 * s.count("nor_conv_3x3") + 1.0 * s.count("nor_conv_1x1") + rng.normal(0, 0.3)
        rows.append({"arch_str": s, **{m: base + i for i, m in enumerate(TRUE_METRICS.values())},
                     "nats_cifar10valid_train_sec_per_epoch": 10 + 2 * s.count("conv")})
    path = tmp_path_factory.mktemp("t") / "table.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def oracle(table_path):
    return create_estimator("oracle", benchmark=TableBenchmark(table_path), metric="v11_cifar10valid_valid", epochs=12)


def asks(algo_name, estimator, n=30, seed=3):
    algo = create_algorithm(algo_name, seed=seed)
    out = []
    for _ in range(n):
        arch = algo.ask()
        out.append(str(arch))
        rec = estimator.evaluate(arch)
        algo.tell(arch, rec.score if rec.ok else None)
    return out


@pytest.mark.parametrize("algo", ALGOS)
def test_same_seed_same_asks(algo, oracle):
    assert asks(algo, oracle) == asks(algo, oracle)
    assert asks(algo, oracle) != asks(algo, oracle, seed=4)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("budget", ["25", "3000s-simulated", "40,2000s-simulated"])
def test_budget_never_overrun(algo, budget, oracle):
    b = parse_budget(budget)
    result = run_search(create_algorithm(algo, seed=1), oracle, b)
    assert b.allows(result.spent)
    assert result.spent.evaluations == sum(not s.repeat for s in result.history)
    if b.evaluations is not None and b.simulated_seconds is None:
        assert result.spent.evaluations == b.evaluations  # uses all of it
    # one more evaluation would not have fitted
    if b.simulated_seconds is not None and result.stopped_by.endswith("simulated seconds"):
        assert result.spent.simulated_seconds > b.simulated_seconds - 12 * 22
    assert result.arch is not None and result.score == max(s.score for s in result.history if s.score is not None)


def test_repeats_are_free(oracle):
    class Repeater:
        """Asks the same two archs forever."""

        name, seed = "repeater", 0

        def __init__(self):
            self.i = 0

        def ask(self):
            self.i += 1
            return nb201.from_index(self.i % 2)

        def tell(self, arch, score):
            pass

    result = run_search(Repeater(), oracle, Budget(evaluations=5), max_repeats=20)
    assert result.spent.evaluations == 2 and "repeated asks" in result.stopped_by


class FailEvery3(Estimator):
    name = "fail-every-3"

    def __init__(self):
        self.calls = 0

    def fingerprint(self):
        return {"estimator": self.name}

    def _evaluate(self, arch):
        self.calls += 1
        if self.calls % 3 == 0:
            return EvalRecord.failure(arch, "simulated divergence")
        return EvalRecord(arch=arch, score=float(arch.count("conv")), status="ok", cost=Cost(seconds=0.001))


@pytest.mark.parametrize("algo", ALGOS)
def test_failed_evaluations_are_recorded_and_not_told_as_scores(algo):
    result = run_search(create_algorithm(algo, seed=0), FailEvery3(), Budget(evaluations=12))
    failed = [s for s in result.history if s.status == "failed"]
    assert failed and all(s.score is None and s.error == "simulated divergence" for s in failed)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("kind", ["oracle", "training-free", "proxy"])
def test_every_driver_accepts_every_estimator_kind(algo, kind, oracle):
    if kind == "oracle":
        est = oracle
    elif kind == "training-free":
        est = create_estimator("synflow", dataset=DatasetSpec("digits"), device="cpu", channels=4,
                               cells_per_stage=1, image_size=8)
    else:
        from bpe.config import BPEConfig

        est = create_estimator("bpe", config=BPEConfig(epochs=1, batch_size=64, channels=2, image_size=8,
                                                       data_fraction=0.1), dataset=DatasetSpec("digits"), device="cpu")
    result = run_search(create_algorithm(algo, seed=0), est, Budget(evaluations=3))
    assert result.spent.evaluations == 3 and result.arch is not None


def test_rea_mutates_from_population(oracle):
    algo = create_algorithm("rea", seed=0, population=5, tournament=2)
    seen = []
    for _ in range(12):
        arch = algo.ask()
        seen.append(arch)
        algo.tell(arch, oracle.score(arch))
    assert len(algo.population) == 5  # aging keeps the population size
    children = seen[5:]
    # every child is one edge away from an arch evaluated before it (its parent)
    assert all(any(sum(a != b for a, b in zip(c.ops, p.ops)) == 1 for p in seen[: 5 + i])
               for i, c in enumerate(children))


def test_reinforce_learns_towards_rewarded_op():
    algo = create_algorithm("reinforce", seed=0, learning_rate=0.1)
    for _ in range(300):
        arch = algo.ask()
        algo.tell(arch, float(sum(op == "nor_conv_3x3" for op in arch.ops)))
    p = algo.probabilities()
    assert (p[:, nb201.OPS.index("nor_conv_3x3")] > 0.5).all()


@pytest.mark.parametrize("text, expected", [
    ("100", Budget(evaluations=100)),
    ("3600s", Budget(seconds=3600.0)),
    ("12000s-simulated", Budget(simulated_seconds=12000.0)),
    ("50,600s", Budget(evaluations=50, seconds=600.0)),
])
def test_parse_budget(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["0", "-5", "10 hours", "1.5", "", "0s-simulated"])
def test_bad_budgets(text):
    with pytest.raises(BPEError):
        parse_budget(text)


def test_search_cli_contract(tmp_path, table_path, capsys):
    out = tmp_path / "search.json"
    assert main(["search", "--algo", "random,rea", "--estimator", "oracle", "--truth", str(table_path),
                 "--budget", "3000s-simulated", "--runs", "3", "--seed", "0", "--out", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert len(result["runs"]) == 6
    for run in result["runs"]:
        assert nb201.parse(run["arch"])
        assert set(run["true_accuracy"]) == {"cifar10_valid", "cifar10_test", "cifar100_test", "imagenet16_test"}
        assert run["spent"]["simulated_seconds"] <= 3000
    assert result["summary"]["rea"]["true_accuracy"]["cifar10_test"]["mean"] > 0
    assert out.with_suffix(".png").stat().st_size > 1000


@pytest.mark.parametrize("argv, fragment", [
    (["--algo", "bayes", "--estimator", "oracle", "--budget", "10"], "unknown search algorithm 'bayes'"),
    (["--algo", "rae", "--estimator", "oracle", "--budget", "10"], "did you mean 'rea'"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "0"], "must be > 0"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "10"], "needs --truth"),
    (["--algo", "rea", "--estimator", "naswot", "--budget", "100s-simulated"], "needs --estimator oracle"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "10", "--algo-opt", "rea.populaton=5"],
     "rea has no option populaton; its options: population (default 10), tournament (default 3)"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "10", "--algo-opt", "tournament=50"],
     "invalid options for rea"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "10", "--algo-opt", "reinforce.learning_rate=0.1"],
     "names reinforce, which is not among --algo rea"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "10", "--algo-opt", "population"], "takes [ALGO.]KEY=VALUE"),
    (["--algo", "rea", "--estimator", "oracle", "--budget", "10", "--algo-opt", 'rea.population="20"'],
     "rea.population takes an int, got '20'"),
    (["--algo", "reinforce", "--estimator", "oracle", "--budget", "10", "--algo-opt", "learning_rate=fast"],
     "reinforce.learning_rate takes a finite float, got 'fast'"),
    (["--algo", "reinforce", "--estimator", "oracle", "--budget", "10", "--algo-opt", "baseline_momentum=1"],
     "need learning_rate > 0 and 0 <= baseline_momentum < 1"),
])
def test_search_cli_bad_input(tmp_path, argv, fragment, capsys):
    assert main(["search", *argv, "--out", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and fragment in err


def test_unqualified_option_goes_to_the_drivers_that_have_it():
    from search_algos.options import algorithm_options as _algorithm_options

    assert _algorithm_options(["population=20", "learning_rate=.01"], ["rea", "reinforce"]) == {
        "rea": {"population": 20}, "reinforce": {"learning_rate": 0.01}}


def test_algo_options_reach_the_driver(tmp_path, table_path):
    """A larger REINFORCE learning rate moves the policy further: the option is not ignored."""
    outs = {}
    for lr in ("0.001", "0.5"):
        out = tmp_path / f"s{lr}.json"
        assert main(["search", "--algo", "reinforce", "--estimator", "oracle", "--truth", str(table_path),
                     "--budget", "60", "--runs", "4", "--algo-opt", f"reinforce.learning_rate={lr}",
                     "--out", str(out), "--quiet"]) == 0
        outs[lr] = json.loads(out.read_text())
    assert outs["0.5"]["summary"]["reinforce"]["options"] == {"learning_rate": 0.5}
    means = {lr: o["summary"]["reinforce"]["true_accuracy"]["cifar10_test"]["mean"] for lr, o in outs.items()}
    assert means["0.5"] > means["0.001"]


def test_search_cli_rejects_invalid_estimator_file(tmp_path, table_path, capsys):
    cfg = tmp_path / "bpe.json"
    cfg.write_text(json.dumps({"epochs": 3, "chanels": 8}))
    assert main(["search", "--algo", "rea", "--estimator", str(cfg), "--truth", str(table_path),
                 "--budget", "5", "--out", str(tmp_path / "s.json")]) == 2
    assert "did you mean 'channels'" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["darts", "darts-v2", "gdas"])
def test_oneshot_cli(tmp_path, table_path, method):
    """One-shot methods train a tiny supernet under a BPEConfig and report the derived cell."""
    cfg = tmp_path / "bpe.json"
    cfg.write_text(json.dumps({"epochs": 1, "batch_size": 32, "channels": 2, "image_size": 8, "data_fraction": 0.2}))
    out = tmp_path / "s.json"
    assert main(["search", "--algo", method, "--estimator", str(cfg), "--dataset", "digits", "--device", "cpu",
                 "--truth", str(table_path), "--runs", "1", "--out", str(out)]) == 0
    run = json.loads(out.read_text())["runs"][0]
    assert nb201.parse(run["arch"]) and set(run["true_accuracy"]) == set(TRUE_METRICS)
    assert np.allclose(np.sum(run["probabilities"], axis=1), 1.0)
    assert out.with_suffix(".png").stat().st_size > 1000  # the supernet's loss per epoch
    if method == "gdas":  # --no-plot: no PNG, and an earlier run's PNG is removed
        assert main(["search", "--algo", method, "--estimator", str(cfg), "--dataset", "digits", "--device", "cpu",
                     "--truth", str(table_path), "--runs", "1", "--out", str(out), "--no-plot", "--quiet"]) == 0
        assert not out.with_suffix(".png").exists()


def test_oneshot_options(tmp_path, table_path, capsys):
    """--algo-opt reaches the one-shot search (a larger arch lr moves the alphas further); typos fail."""
    cfg = tmp_path / "bpe.json"
    cfg.write_text(json.dumps({"epochs": 1, "batch_size": 32, "channels": 2, "image_size": 8, "data_fraction": 0.2}))
    spread = {}
    for lr in ("0.0003", "0.03"):
        out = tmp_path / f"s{lr}.json"
        assert main(["search", "--algo", "gdas", "--estimator", str(cfg), "--dataset", "digits", "--device", "cpu",
                     "--algo-opt", f"gdas.arch_learning_rate={lr}", "--out", str(out), "--quiet"]) == 0
        result = json.loads(out.read_text())
        spread[lr] = np.ptp(result["runs"][0]["probabilities"])
    assert result["summary"]["gdas"]["options"] == {"arch_learning_rate": 0.03}
    assert spread["0.03"] > spread["0.0003"]
    assert main(["search", "--algo", "gdas", "--estimator", str(cfg), "--dataset", "digits",
                 "--algo-opt", "arch_lr=0.1", "--out", str(tmp_path / "x.json")]) == 2
    assert "gdas has no option arch_lr; its options: arch_learning_rate" in capsys.readouterr().err


def test_oneshot_is_deterministic():
    from bpe.config import BPEConfig
    from bpe.data import prepare_split
    from search_algos.oneshot import oneshot_search

    data = prepare_split(DatasetSpec("digits"), 0.2)
    cfg = BPEConfig(epochs=1, batch_size=32, channels=2, image_size=8, data_fraction=0.2)
    a = oneshot_search("gdas", cfg, data, device="cpu")
    b = oneshot_search("gdas", cfg, data, device="cpu")
    assert a.arch == b.arch and a.probabilities == b.probabilities


def test_oneshot_cli_needs_a_config(tmp_path, capsys):
    assert main(["search", "--algo", "darts", "--estimator", "oracle", "--out", str(tmp_path / "s.json")]) == 2
    assert "BPEConfig" in capsys.readouterr().err
    assert main(["search", "--algo", "darts,rea", "--estimator", "bpe-1", "--out", str(tmp_path / "s.json")]) == 2


def test_two_stage_shares_one_budget(oracle):
    from search_algos.two_stage import two_stage_search

    cheap = create_estimator("params", channels=4, cells_per_stage=1, image_size=8)
    budget = Budget(evaluations=30)
    result = two_stage_search(cheap, oracle, budget, pool=20, seed=0)
    assert result.spent.evaluations == 30 and budget.allows(result.spent)
    stage2 = result.history[20:]
    assert len(stage2) == 10
    # stage 2 evaluates the cheap ranking's top 10, in order
    cheap_scores = {s.arch: s.score for s in result.history[:20]}
    top = sorted(cheap_scores, key=lambda a: -cheap_scores[a])[:10]
    assert [s.arch for s in stage2] == top
    assert result.score == max(s.score for s in stage2)


def test_two_stage_cli(tmp_path, table_path):
    out = tmp_path / "s.json"
    assert main(["search", "--algo", "random", "--estimator", "oracle", "--prescreen", "params", "--pool", "15",
                 "--truth", str(table_path), "--budget", "20", "--runs", "2", "--out", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert [r["n_evaluations"] for r in result["runs"]] == [20, 20]
    assert result["runs"][0]["algorithm"].startswith("two-stage(params->oracle)")


def test_parallel_runs_match_sequential_runs_in_seed_order(oracle):
    from search_algos.runs import run_many

    budget = Budget(evaluations=15)
    seq = run_many("rea", lambda: oracle, budget, runs=4, seed=3, jobs=1, progress=False)
    par = run_many("rea", lambda: oracle, budget, runs=4, seed=3, jobs=2, progress=False)
    assert [r.seed for r in par] == [3, 4, 5, 6]
    assert [(r.arch, r.score) for r in par] == [(r.arch, r.score) for r in seq]


# --- golden results: a speed change of the search loop, the drivers, the oracle or the table must
# leave every search result as it was, bit for bit (benchmarks/oracle_search_speed.py checks all
# 1,500 runs of the README table; these are 5 runs per driver).


class ExactBenchmark(Benchmark):
    """A truth computed from the arch (no file to parse): scores and seconds are exact binary fractions."""

    default_metric = "acc"
    metrics = ["acc"]

    def query(self, arch, metric=None):
        a = nb201.to_arch(arch)
        return 80 + 2.0 * a.ops.count("nor_conv_3x3") + a.ops.count("nor_conv_1x1") + (a.index % 97) / 64

    def train_seconds(self, arch, epochs):
        return epochs * (10 + 2 * sum("conv" in op for op in nb201.to_arch(arch).ops))

    def fingerprint(self):
        return {"kind": "exact"}


def best_so_far(result):
    """(evaluations made, [(evaluation, score) each time the best score rose])."""
    best, rises = None, []
    for step in result.history:
        if step.score is not None and (best is None or step.score > best):
            best = step.score
            rises.append((step.evaluations, step.score))
    return result.spent.evaluations, rises


#: Per run (seeds 0-4): evaluations made, and (evaluation, score) each time the best score rose.
#: Recorded from the search code before the speed-ups (commit e4ed2a2); floats compare bit for bit.
SEARCH_GOLDEN = {
    'nb201': {
        'random': [
            (110, [(1, 86.851), (2, 89.249), (3, 89.436), (11, 89.566), (31, 89.827), (50, 90.057), (80, 91.072)]),
            (105, [(1, 86.621), (3, 90.592), (91, 90.782), (96, 90.864)]),
            (109, [(1, 80.296), (2, 89.9), (6, 91.061)]),
            (111, [(1, 87.509), (2, 90.416), (91, 91.284)]),
            (107, [(1, 90.636), (45, 90.694)]),
        ],
        'rea': [
            (90, [(1, 84.468), (2, 87.132), (3, 88.67), (4, 89.008), (5, 89.669), (8, 90.963), (54, 91.151), (90, 91.423)]),
            (88, [(1, 85.968), (2, 86.266), (6, 89.264), (8, 90.685), (13, 91.068), (15, 91.145), (18, 91.344), (19, 91.553), (38, 91.607)]),
            (91, [(1, 9.712), (2, 88.105), (3, 89.249), (11, 89.44), (19, 90.3), (41, 90.521), (54, 90.896), (77, 90.966), (78, 91.298), (83, 91.336), (88, 91.553)]),
            (94, [(1, 80.212), (2, 88.28), (6, 88.861), (12, 89.028), (16, 89.472), (24, 89.48), (27, 89.942), (28, 90.451), (33, 91.22), (64, 91.336), (71, 91.553)]),
            (97, [(1, 88.164), (4, 88.604), (5, 89.2), (6, 89.209), (11, 89.948), (17, 90.203), (30, 90.778), (36, 90.933), (44, 90.968), (49, 91.028), (55, 91.034), (65, 91.39)]),
        ],
        'reinforce': [
            (106, [(1, 84.47), (2, 84.803), (4, 89.331), (6, 90.804), (100, 90.892), (105, 91.028)]),
            (112, [(1, 85.256), (2, 87.646), (3, 89.115), (6, 89.244), (17, 89.442), (20, 89.892), (28, 90.236),
                   (33, 90.591), (68, 90.8), (97, 91.154)]),
            (107, [(1, 88.975), (3, 89.718), (13, 90.008), (14, 90.194), (40, 90.671), (51, 90.98)]),
            (107, [(1, 85.836), (2, 88.614), (3, 88.981), (5, 89.444), (16, 90.164), (34, 90.468), (67, 90.864)]),
            (106, [(1, 84.664), (3, 88.293), (7, 91.34)]),
        ],
    },
    'exact': {
        'rea': [
            (57, [(1, 83.421875), (3, 84.828125), (4, 85.4375), (5, 87.65625), (17, 89.015625), (22, 90.34375)]),
            (56, [(1, 84.34375), (5, 86.1875), (6, 88.609375), (13, 88.953125), (18, 90.28125), (21, 90.4375), (45, 91.0625), (46, 92.140625), (47, 93.21875)]),
            (56, [(1, 83.0), (2, 84.09375), (3, 86.953125), (19, 88.0625), (22, 88.65625), (29, 89.734375), (30, 90.21875)]),
            (58, [(1, 82.046875), (2, 85.15625), (3, 85.5), (6, 86.1875), (12, 87.484375), (16, 88.203125), (23, 90.0625), (28, 90.875)]),
            (57, [(1, 85.25), (2, 85.65625), (5, 89.4375), (12, 91.1875)]),
        ],
        'reinforce-lr0.1': [
            (57, [(1, 82.515625), (2, 86.203125), (5, 88.375), (14, 89.875), (39, 91.546875), (43, 91.828125),
                  (52, 92.203125)]),
            (57, [(1, 82.46875), (2, 85.765625), (6, 87.484375), (8, 88.4375), (21, 89.484375), (40, 89.5),
                  (51, 91.890625)]),
            (57, [(1, 84.0), (3, 88.53125), (22, 89.90625), (54, 90.75)]),
            (56, [(1, 82.203125), (2, 84.5625), (3, 86.453125), (7, 86.984375), (8, 87.8125), (16, 90.21875),
                  (33, 93.21875)]),
            (55, [(1, 83.109375), (2, 83.15625), (3, 83.640625), (4, 86.578125), (7, 89.1875), (18, 89.265625),
                  (23, 90.984375), (29, 91.296875), (46, 93.21875)]),
        ],
    },
}

GOLDEN_DRIVERS = {"random": ("random", {}), "rea": ("rea", {}), "reinforce": ("reinforce", {}),
                  "reinforce-lr0.1": ("reinforce", {"learning_rate": 0.1})}


def golden_runs(benchmark, metric, name):
    from search_algos.runs import run_many

    algo, options = GOLDEN_DRIVERS[name]
    oracle = create_estimator("oracle", benchmark=benchmark, metric=metric, epochs=12)
    return [best_so_far(r) for r in run_many(algo, lambda: oracle, parse_budget("12000s-simulated"), runs=5, seed=0,
                                              progress=False, algorithm_options=options)]


@pytest.mark.parametrize("name", sorted(SEARCH_GOLDEN["exact"]))
def test_search_results_match_golden(name):
    assert golden_runs(ExactBenchmark(), "acc", name) == SEARCH_GOLDEN["exact"][name]


@pytest.mark.parametrize("name", sorted(SEARCH_GOLDEN["nb201"]))
def test_nb201_search_results_match_golden(name, data_dir):
    """The README's oracle search (NB201 table, 12 x recorded seconds per epoch, 12,000 simulated s)."""
    truth = TableBenchmark(data_dir / "nb201" / "nb201_groundtruth.csv")
    assert golden_runs(truth, "v11_cifar10valid_valid", name) == SEARCH_GOLDEN["nb201"][name]


@pytest.mark.parametrize("algo", ["tpe", "nsga2", "cmaes"])
def test_optuna_drivers_keep_every_told_score_in_their_study(algo, oracle):
    """Each ask is one Optuna trial over the space's decisions; its told score completes it and a
    failed evaluation fails it (never a made-up value)."""
    import optuna

    driver = create_algorithm(algo, seed=3)
    result = run_search(driver, FailEvery3(), Budget(evaluations=12))
    trials = driver.study.trials
    assert len(trials) == len(result.history)
    for step, trial in zip(result.history, trials):
        codes = [trial.params[f"d{i}"] for i in range(len(driver.space.decisions()))]
        assert str(driver.space.from_decisions(codes)) == step.arch
        if step.score is None:
            assert trial.state == optuna.trial.TrialState.FAIL
        else:
            assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == step.score


def test_optuna_drivers_stop_when_a_listed_space_is_exhausted(oracle, table_path):
    """On a listed space (e.g. the BPE paper's 100 cells) an ask moves to the nearest listed arch;
    the study learns the arch that was scored, and the search ends once every listed arch is."""
    import search_algos.base as base
    from bpe.spaces import ListedSpace, get_space

    listed = [str(a) for a in TableBenchmark(table_path).archs()[:6]]
    driver = create_algorithm("tpe", seed=0)
    driver.space = ListedSpace(get_space("nb201"), listed)
    driver._sizes = driver.space.decisions()
    result = run_search(driver, oracle, Budget(evaluations=50))
    assert result.stopped_by == "space exhausted" and result.spent.evaluations == 6
    done = [t for t in driver.study.trials if t.state.name == "COMPLETE"]
    for t in done:
        assert str(driver.space.from_decisions([t.params[f"d{i}"] for i in range(len(driver._sizes))])) in listed
    assert base  # imported for the registry


def test_nsga2_with_a_cost_reports_the_pareto_front_of_score_against_size(oracle):
    """``nsga2.cost=params``: the arch's parameter count is a second objective (minimised); the run
    reports the non-dominated archs it evaluated, and its best arch is still the best-scored one."""
    from bpe.data import DatasetSpec

    driver = create_algorithm("nsga2", seed=1, cost="params", population=8)
    result = run_search(driver, oracle, Budget(evaluations=40))
    front = result.to_dict()["driver"]["pareto_front"]
    counter = create_estimator("params", dataset=DatasetSpec("digits"), space="nb201", device="cpu")
    scored = {s.arch: s.score for s in result.history if s.score is not None}
    params = {a: counter.score(a) for a in scored}
    assert front and all(p["arch"] in scored and p["score"] == scored[p["arch"]] for p in front)
    assert all(p["params"] == pytest.approx(params[p["arch"]]) for p in front)
    for p in front:  # nothing evaluated beats a front member on both objectives
        assert not any(scored[a] >= p["score"] and params[a] < p["params"] - 1e-12 for a in scored)
    assert max(p["score"] for p in front) == result.score
    assert [d.name for d in driver.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    with pytest.raises(BPEError, match="cost"):
        create_algorithm("nsga2", cost="latency")
