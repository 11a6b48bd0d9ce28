"""Multi-fidelity search (Hyperband, successive halving): rung promotion against an independent
simulation of the asynchronous rule, budget accounting, and resume through the epoch cache."""

from __future__ import annotations

import dataclasses
import json
import zlib

import numpy as np
import pytest

from bpe.cache import EvalCache
from bpe.config import BPEConfig
from bpe.data import DatasetSpec
from bpe.errors import BPEError
from bpe.estimators.proxy import ProxyTrainingEstimator
from search_algos.budget import Budget
from search_algos.fidelity import Curve, EpochCurves, create_fidelity_method, fidelity_search


class SyntheticCurves(EpochCurves):
    """Each arch's accuracy is a constant drawn from its string; each epoch costs 1 s; no cache."""

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs, self.cache, self.trained, self.report = max_epochs, None, [], "valid_accuracy"

    @staticmethod
    def value(arch: str) -> float:
        return float(np.random.default_rng(zlib.crc32(arch.encode())).uniform(10, 90))

    def cached(self, arch: str) -> Curve:
        return Curve()

    def train(self, arch, known, on_new_epoch):
        self.trained.append(arch)
        curve = Curve()
        for epoch in range(1, self.max_epochs + 1):
            curve.accuracies.append(self.value(arch))
            curve.valid_losses.append(1.0)
            curve.train_losses.append(1.0)
            curve.seconds.append(float(epoch))
            if on_new_epoch(epoch, curve, 1.0):
                break
        return curve


def simulate_asha(values: list[float], min_epochs: int, eta: int, max_epochs: int) -> list[int]:
    """Epochs each trial trains under asynchronous successive halving with constant curves: at
    rung r (epoch min*eta**r < max) a trial goes on iff its value is at least the k-th largest of
    the values recorded at that rung so far (itself included), k = max(1, n // eta)."""
    rungs: dict[int, list[float]] = {}
    epochs = []
    for v in values:
        rung, trained = 0, max_epochs
        while min_epochs * eta**rung < max_epochs:
            rungs.setdefault(rung, []).append(v)
            seen = sorted(rungs[rung], reverse=True)
            k = max(1, len(seen) // eta)
            if v < seen[k - 1]:
                trained = min_epochs * eta**rung
                break
            rung += 1
        epochs.append(trained)
    return epochs


@pytest.mark.parametrize("eta,min_epochs", [(3, 1), (2, 1), (2, 2)])
def test_successive_halving_promotes_the_best_fraction_of_each_rung(eta, min_epochs):
    curves = SyntheticCurves(max_epochs=9)
    method = create_fidelity_method("sha", seed=3, reduction_factor=eta, min_epochs=min_epochs)
    result = fidelity_search(method, curves, Budget(evaluations=30))
    expected = simulate_asha([curves.value(a) for a in curves.trained], min_epochs, eta, 9)
    assert [s.epochs for s in result.history] == expected
    assert any(e < 9 for e in expected) and any(e == 9 for e in expected)  # the test can tell both apart
    complete = [s for s in result.history if s.status == "ok"]
    assert result.score == max(s.score for s in complete)
    assert all(s.score is None for s in result.history if s.status == "pruned")


def test_hyperband_uses_several_brackets_and_spends_less_than_full_training():
    curves = SyntheticCurves(max_epochs=9)
    result = fidelity_search(create_fidelity_method("hyperband", seed=0), curves, Budget(evaluations=60))
    first_rungs = {s.epochs for s in result.history if s.status == "pruned"}
    assert len(first_rungs) >= 2  # brackets stop trials at different rungs (1 and 3 epochs)
    assert result.spent.seconds < 60 * 9
    assert result.spent.seconds == sum(s.epochs for s in result.history)


def test_seconds_budget_counts_epochs_and_stops_before_overrun():
    curves = SyntheticCurves(max_epochs=9)
    result = fidelity_search(create_fidelity_method("sha", seed=0), curves, Budget(seconds=25))
    assert result.stopped_by == "budget: seconds"
    assert result.spent.seconds <= 25
    assert result.spent.seconds == sum(s.epochs for s in result.history)
    assert result.history[-1].status == "stopped"


class FaultyCurves(SyntheticCurves):
    """Arch 2 raises, arch 3's training diverges after 2 epochs (the failing epoch costs 0.5 s)."""

    calls = 0

    def train(self, arch, known, on_new_epoch):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("out of memory")
        if self.calls == 3:
            curve = Curve([99.0, 99.5], [1.0, 1.0], [1.0, 1.0], [1.0, 2.0])  # the best so far: never pruned
            for epoch in (1, 2):
                if on_new_epoch(epoch, curve, 1.0):
                    return curve
            return dataclasses.replace(curve, error="non-finite training loss (nan) in epoch 3", error_seconds=0.5)
        return super().train(arch, known, on_new_epoch)


def test_a_failing_trial_is_recorded_charged_and_the_search_goes_on():
    curves = FaultyCurves(max_epochs=9)
    result = fidelity_search(create_fidelity_method("sha", seed=0), curves, Budget(evaluations=4))
    statuses = [s.status for s in result.history]
    assert statuses[1] == "failed" and "out of memory" in result.history[1].error
    assert statuses[2] == "failed" and "non-finite" in result.history[2].error
    assert len(result.history) == 4 and result.history[2].epochs == 2
    # every epoch reported costs 1 s; the epoch in which arch 3 failed costs its 0.5 s too
    assert result.spent.seconds == pytest.approx(sum(s.epochs for s in result.history) + 0.5)


def test_the_reported_signal_is_the_settings_report():
    """With report tse_e1 a trial reports the negated training loss of each epoch, not accuracy."""

    class TSECurves(SyntheticCurves):
        def train(self, arch, known, on_new_epoch):
            self.trained.append(arch)
            curve = Curve()
            for epoch in range(1, self.max_epochs + 1):
                curve.accuracies.append(0.0)  # useless accuracy: only the training loss carries signal
                curve.valid_losses.append(1.0)
                curve.train_losses.append(self.value(arch) / epoch)
                curve.seconds.append(float(epoch))
                if on_new_epoch(epoch, curve, 1.0):
                    break
            return curve

    curves = TSECurves(max_epochs=3)
    curves.report = "tse_e1"
    result = fidelity_search(create_fidelity_method("sha", seed=0), curves, Budget(evaluations=12))
    done = [s for s in result.history if s.status == "ok"]
    assert done and all(s.score == pytest.approx(-curves.value(s.arch) / 3) for s in done)


def test_first_rung_at_or_beyond_the_last_epoch_is_refused():
    with pytest.raises(BPEError, match="min_epochs"):
        fidelity_search(create_fidelity_method("hyperband", min_epochs=3), SyntheticCurves(3), Budget(evaluations=2))


def test_options_are_checked():
    with pytest.raises(BPEError, match="reduction_factor"):
        create_fidelity_method("hyperband", reduction_factor=1)
    with pytest.raises(BPEError, match="no option"):
        create_fidelity_method("hyperband", population=3)
    with pytest.raises(BPEError, match="did you mean 'hyperband'"):
        create_fidelity_method("hyperbnd")


def test_needs_a_proxy_training_estimator():
    from bpe.estimators import create_estimator

    with pytest.raises(BPEError, match="BPEConfig"):
        EpochCurves(create_estimator("params"), None)


# -- real (tiny) training through the cache ------------------------------------------------
def tiny_estimator(epochs: int = 3) -> ProxyTrainingEstimator:
    config = BPEConfig(epochs=epochs, batch_size=64, learning_rate=0.05, layers=5, channels=4, image_size=8,
                       data_fraction=0.2)
    return ProxyTrainingEstimator(config, DatasetSpec("digits"), device="cpu")


class Interrupted(BaseException):  # like a kill: not an evaluation's fault
    pass


def steps(result):
    return [(s.arch, s.status, s.epochs, s.score) for s in result.history]


def test_resume_after_a_kill_replays_the_cache_and_finishes_the_same_search(tmp_path, monkeypatch):
    method = lambda: create_fidelity_method("sha", seed=1, reduction_factor=2)  # noqa: E731
    fresh = fidelity_search(method(), EpochCurves(tiny_estimator(), EvalCache(tmp_path / "a")), Budget(evaluations=8))

    cache = EvalCache(tmp_path / "b")
    curves = EpochCurves(tiny_estimator(), cache)
    real_train = EpochCurves.train
    calls = {"epochs": 0}

    def killed_after_five_epochs(self, arch, known, on_new_epoch):
        def counting(epoch, curve, cost):
            calls["epochs"] += 1
            if calls["epochs"] == 5:
                raise Interrupted  # the process dies in the middle of a trial
            return on_new_epoch(epoch, curve, cost)
        return real_train(self, arch, known, counting)

    monkeypatch.setattr(EpochCurves, "train", killed_after_five_epochs)
    with pytest.raises(Interrupted):
        fidelity_search(method(), curves, Budget(evaluations=8))
    monkeypatch.setattr(EpochCurves, "train", real_train)

    trained = []
    monkeypatch.setattr(EpochCurves, "train", lambda self, arch, known, cb: trained.append((arch, len(known.accuracies)))
                        or real_train(self, arch, known, cb))
    resumed = fidelity_search(method(), EpochCurves(tiny_estimator(), cache), Budget(evaluations=8))
    assert steps(resumed) == steps(fresh)
    assert resumed.arch == fresh.arch
    # the 4 epochs stored before the kill are not trained again as new epochs: the trial that was
    # cut short resumes from its stored epochs, and no finished trial is trained again
    first_trained = trained[0]
    assert first_trained[1] >= 1
    assert len(trained) < len(fresh.history)
    files = [p for p in (tmp_path / "b").rglob("*.json") if p.name != "fingerprint.json"]
    assert all("curve" in json.loads(p.read_text())["info"] for p in files)


def test_a_second_run_is_served_from_the_cache_at_the_recorded_cost(tmp_path, monkeypatch):
    cache = EvalCache(tmp_path)
    first = fidelity_search(create_fidelity_method("hyperband", seed=0), EpochCurves(tiny_estimator(), cache),
                            Budget(evaluations=5))
    monkeypatch.setattr(EpochCurves, "train", lambda *a: pytest.fail("trained again"))
    again = fidelity_search(create_fidelity_method("hyperband", seed=0), EpochCurves(tiny_estimator(), cache),
                            Budget(evaluations=5))
    assert steps(again) == steps(first)
    assert again.spent.seconds == pytest.approx(first.spent.seconds)


def test_last_epoch_accuracy_equals_the_plain_proxy_score(tmp_path):
    """Evaluating after every epoch does not change training: a trial trained to the end reports
    what the proxy estimator reports for the same setting."""
    est = tiny_estimator(epochs=2)
    result = fidelity_search(create_fidelity_method("sha", seed=0), EpochCurves(est, EvalCache(tmp_path)),
                             Budget(evaluations=3))
    done = [s for s in result.history if s.status == "ok"]
    assert done
    assert done[0].score == pytest.approx(est.evaluate(done[0].arch).score, abs=1e-9)


# -- the CLI -----------------------------------------------------------------------------------
def test_bpe_search_hyperband_writes_runs_and_rejects_bad_input(tmp_path, capsys):
    from bpe.cli import main

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"epochs": 3, "batch_size": 64, "learning_rate": 0.05, "cells_per_stage": 1,
                                  "channels": 4, "image_size": 8, "data_fraction": 0.2}))
    base = ["search", "--estimator", str(config), "--budget", "4", "--cache-dir", str(tmp_path / "c"), "-q",
            "--device", "cpu"]
    assert main([*base, "--algo", "hyperband,sha", "--algo-opt", "hyperband.reduction_factor=2",
                 "--out", str(tmp_path / "s.json")]) == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    assert {r["algorithm"] for r in doc["runs"]} == {"hyperband", "sha"}
    assert doc["summary"]["hyperband"]["options"] == {"reduction_factor": 2}
    assert all(r["n_evaluations"] == 4 for r in doc["runs"])
    capsys.readouterr()
    for argv, needle in (([*base, "--algo", "hyperband", "--algo-opt", "hyperband.reduction_factor=1"],
                          "reduction_factor"),
                         ([*base[:2], "naswot", *base[3:], "--algo", "hyperband"], "BPEConfig"),
                         ([*base, "--algo", "hyperbnd"], "did you mean")):
        assert main([*argv, "--out", str(tmp_path / "bad.json")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.slow  # worker processes (loky)
def test_runs_in_parallel_find_what_runs_in_sequence_find(tmp_path):
    from search_algos.orchestrate import sample_based_experiment

    def run(jobs, cache):
        est = tiny_estimator(epochs=2)
        _, results = sample_based_experiment(["sha"], lambda: est, Budget(evaluations=3), runs=2, jobs=jobs,
                                             curves=EpochCurves(est, EvalCache(tmp_path / cache)), progress=False)
        return [steps(r) for r in results["sha"]]

    assert run(2, "a") == run(1, "b")
