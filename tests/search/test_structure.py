"""One search loop (issue #27): only ``search_algos/loop.py`` charges a budget; every search —
plain drivers, successive halving and Hyperband, two-stage — runs through it; a scheduler stops
the evaluations of any driver, and plain drivers are never stopped early."""

from __future__ import annotations

import ast
import zlib

import numpy as np
import pytest

from bpe.estimators import create_estimator
from search_algos.base import create_algorithm
from search_algos.budget import Budget
from search_algos.fidelity import create_fidelity_method
from search_algos.loop import Report, Trainer, _Trial, run_search
from search_algos.orchestrate import sample_based_experiment

from conftest import ROOT

#: What spending looks like: a budget check, or a spend added to or taken from.
SPENT_FIELDS = {"evaluations", "seconds", "simulated_seconds"}


def charges(path) -> list[str]:
    """Lines of ``path`` that check a budget (``x.allows(...)``) or change a spend in place
    (``x.seconds += ...``, ``x.evaluations -= ...``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "allows"):
            found.append(f"{path.name}:{node.lineno}: calls .allows(")
        if (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Attribute)
                and node.target.attr in SPENT_FIELDS):
            found.append(f"{path.name}:{node.lineno}: changes .{node.target.attr} in place")
    return found


def test_no_module_of_the_search_package_but_the_loop_charges_a_budget():
    modules = sorted((ROOT / "search_algos").glob("*.py"))
    assert any(p.name == "loop.py" for p in modules)
    assert charges(ROOT / "search_algos" / "loop.py")  # the check can see a charge
    offenders = [line for p in modules if p.name != "loop.py" for line in charges(p)]
    assert not offenders, ("budgets are charged in search_algos/loop.py only (one loop, one budget): "
                           + "; ".join(offenders))


class ConstantCurves(Trainer):
    """Each arch reports a constant value (drawn from its string) after every epoch, 1 s each."""

    report = "valid_accuracy"

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs, self.trained = max_epochs, []

    @staticmethod
    def value(arch: str) -> float:
        return float(np.random.default_rng(zlib.crc32(arch.encode())).uniform(10, 90))

    def run(self, arch, report):
        self.trained.append(arch)
        for epoch in range(1, self.max_epochs + 1):
            if report(Report(epoch, self.value(arch), 1.0)):
                break
        return None


@pytest.fixture
def counted_reports(monkeypatch):
    """How many reports the one loop charged."""
    calls = {"n": 0}
    real = _Trial.report

    def counting(self, step):
        calls["n"] += 1
        return real(self, step)

    monkeypatch.setattr(_Trial, "report", counting)
    return calls


def test_every_search_runs_through_the_one_loop(counted_reports):
    cheap = create_estimator("params", channels=4, cells_per_stage=1, image_size=8)
    budget = Budget(evaluations=6)
    plain, _ = sample_based_experiment(["random", "rea"], lambda: cheap, budget, runs=1, progress=False)
    assert counted_reports["n"] == sum(r.n_evaluations for r in plain.runs) == 12  # one report per evaluation
    counted_reports["n"] = 0
    sample_based_experiment(["random"], lambda: cheap, budget, runs=1, progress=False, prescreen=cheap, pool=3)
    assert counted_reports["n"] == 6  # both stages of a two-stage search
    counted_reports["n"] = 0
    curves = ConstantCurves(max_epochs=9)
    fidelity, results = sample_based_experiment(["sha"], lambda: cheap, budget, runs=1, progress=False,
                                                curves=curves)
    steps = results["sha"][0].history
    assert counted_reports["n"] == sum(s.epochs for s in steps)  # one report per epoch trained
    assert {s.status for s in steps} == {"ok", "pruned"} and fidelity.runs[0].result.algorithm == "sha"


def test_a_scheduler_stops_the_evaluations_of_any_driver_and_plain_runs_are_never_stopped():
    curves = ConstantCurves(max_epochs=9)
    told = []
    driver = create_algorithm("rea", seed=0, population=4)
    tell = driver.tell
    driver.tell = lambda arch, score: told.append(score) or tell(arch, score)
    result = run_search(driver, curves, Budget(evaluations=20),
                        scheduler=create_fidelity_method("sha", seed=0).scheduler(curves.max_epochs))
    statuses = [s.status for s in result.history if not s.repeat]
    assert "pruned" in statuses and "ok" in statuses and result.algorithm == "sha"
    assert all(score is None for score, s in zip(told, result.history) if s.status == "pruned")
    assert result.spent.seconds == sum(s.epochs for s in result.history if not s.repeat)
    # the same driver and trainer without a scheduler: every arch trains to the last epoch
    plain = run_search(create_algorithm("rea", seed=0, population=4), ConstantCurves(9), Budget(evaluations=5))
    assert {s.status for s in plain.history} == {"ok"} and {s.epochs for s in plain.history} == {9}
    assert plain.algorithm == "rea"


def test_the_search_cli_reads_attributes_not_result_keys():
    """``bpe search`` prints from the typed experiment: no ``x["key"]`` or ``x.get("key")`` in its module."""
    path = ROOT / "bpe" / "cli" / "search.py"
    keyed = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
             if (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                 and isinstance(node.slice.value, str))
             or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                 and node.args and isinstance(node.args[0], ast.Constant))]
    assert not keyed, f"bpe/cli/search.py reads result dicts by key on lines {keyed}"


def test_the_experiment_dict_is_search_json(tmp_path):
    """What ``search_job`` returns serialises to exactly the ``search.json`` it wrote (keys in order)."""
    import json

    from bpe.data import DatasetSpec
    from bpe.parallel import Runner
    from search_algos.jobs import search_job

    experiment, (path,) = search_job(algos=["random", "rea"], estimator_spec="params", dataset=DatasetSpec("digits"),
                                     truth_spec=None, metric="v11_cifar10valid_valid", budget_spec="4", runs=2, seed=0,
                                     runner=Runner(progress=False), out=tmp_path / "s.json", progress=False,
                                     device="cpu", keep_evaluated=True)
    written = json.loads(path.read_text())
    assert list(written) == ["algorithms", "estimator", "budget", "runs_per_algorithm", "seed", "summary", "runs",
                             "truth_source", "metric", "space", "dataset", "provenance", "files"]
    assert list(written["summary"]["rea"]) == ["true_accuracy", "published", "options", "mean_evaluations",
                                               "mean_seconds"]
    assert list(written["runs"][0]) == ["algorithm", "seed", "budget", "arch", "score", "spent", "stopped_by",
                                        "worker", "true_accuracy", "n_evaluations", "evaluated"]
    assert json.loads(json.dumps(experiment.to_dict())) == {k: v for k, v in written.items() if k != "files"}
    assert [r.n_evaluations for r in experiment.runs] == [4, 4, 4, 4]
    assert experiment.summary["rea"].mean_evaluations == 4.0
