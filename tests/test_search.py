"""Search drivers: determinism, budgets, estimator kinds, duplicate handling, CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bpe.benchmarks.table import TableBenchmark
from bpe.cli import main
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.estimators import Estimator, EvalRecord, create_estimator
from bpe.estimators.base import Cost
from bpe.spaces import nb201
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
    from bpe.cli import _algorithm_options

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
