"""Estimator registry, conformance over every registered estimator, cache and runner."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from bpe.cache import EvalCache
from bpe.data import DatasetSpec
from bpe.errors import EstimatorError, TruthError
from bpe.estimators import (
    Estimator,
    EvalRecord,
    available_estimators,
    create_estimator,
    estimator_from_spec,
    get_estimator_class,
    register_estimator,
)
from bpe.evaluate import evaluate_estimator, sample_archs
from bpe.parallel import Runner
from bpe.spaces import nb201
from bpe.truth import load_truth
from bpe.truth.table import TableBenchmark


@pytest.fixture
def table(tmp_path):
    """A tiny NB201-style truth table: 'acc' rises with the number of 3x3 convs."""
    archs = [str(a) for a in nb201.sample(12, 0)]
    acc = [80 + 2 * a.count("nor_conv_3x3") + 0.1 * i for i, a in enumerate(archs)]
    path = tmp_path / "truth.csv"
    pd.DataFrame({"arch_str": archs, "acc": acc, "nats_cifar10valid_train_sec_per_epoch": 10.0}).to_csv(path, index=False)
    return TableBenchmark(path, default_metric="acc")


def make(name, table, tmp_path):
    """Every registered estimator's own tiny instance (no per-name code here)."""
    from bpe.estimators.context import EstimatorContext

    context = EstimatorContext(truth=table, metric="acc", device="cpu", workdir=tmp_path)
    return get_estimator_class(name).tiny(context)


@pytest.mark.parametrize("name", available_estimators())
def test_conformance(name, table, tmp_path):
    """Every registered estimator: finite float score, record with cost, deterministic, JSON fingerprint."""
    est = make(name, table, tmp_path)
    assert isinstance(est, Estimator) and est.name == name
    arch = table.archs()[0]
    if est.population:  # scores archs together (a vote): through a runner, never one by one
        archs = table.archs()[:4]
        records = Runner(progress=False).run(est, archs)
        assert [r.arch for r in records] == archs and all(r.ok and math.isfinite(r.score) for r in records)
        assert [r.score for r in Runner(progress=False).run(est, archs)] == [r.score for r in records]
        with pytest.raises(EstimatorError, match="together"):
            est.evaluate(arch)
        json.dumps(est.fingerprint())
        return
    rec = est.evaluate(arch)
    assert isinstance(rec, EvalRecord) and rec.ok and math.isfinite(rec.score)
    assert rec.arch == arch and rec.cost.seconds >= 0
    assert est.evaluate(arch).score == rec.score
    assert isinstance(est.score(nb201.parse(arch)), float)
    json.dumps(est.fingerprint())
    assert EvalRecord.from_dict(json.loads(json.dumps(rec.to_dict()))).score == rec.score
    assert isinstance(est.describe(), str)


def test_registry_rejects_duplicates_and_unknown():
    with pytest.raises(ValueError, match="already registered"):
        register_estimator("oracle")(type("X", (Estimator,), {}))
    with pytest.raises(EstimatorError, match="did you mean 'oracle'"):
        create_estimator("oracel")


def test_oracle_charges_simulated_time(table):
    est = create_estimator("oracle", benchmark=table, metric="acc", epochs=12)
    rec = est.evaluate(table.archs()[1])
    assert rec.cost.simulated_seconds == pytest.approx(120.0) and rec.score == table.query(table.archs()[1], "acc")


def test_failed_score_is_recorded_not_faked():
    class NaNEstimator(Estimator):
        name = "nan-test"

        def fingerprint(self):
            return {"estimator": self.name}

        def _evaluate(self, arch):
            return EvalRecord(arch=arch, score=float("nan"), status="ok")

    rec = NaNEstimator().evaluate(str(nb201.from_index(0)))
    assert not rec.ok and rec.score is None and "non-finite" in rec.error
    with pytest.raises(RuntimeError, match="non-finite"):
        NaNEstimator().score(str(nb201.from_index(0)))


def test_table_benchmark_errors(table, tmp_path):
    with pytest.raises(TruthError, match="metric 'nope' is not in the ground truth; choose one of"):
        table.query(table.archs()[0], "nope")
    with pytest.raises(TruthError, match="is not in truth table"):
        table.query(next(str(a) for a in nb201.enumerate_archs() if str(a) not in table.archs()), "acc")
    with pytest.raises(TruthError, match="does not exist"):
        load_truth(str(tmp_path / "missing.csv"))
    with pytest.raises(TruthError, match="nb201:PATH.pth"):
        load_truth("somewhere")


def test_cache_round_trip_and_corrupt_file(tmp_path, table):
    cache = EvalCache(tmp_path / "c")
    est = create_estimator("oracle", benchmark=table, metric="acc")
    fp = est.fingerprint()
    rec = est.evaluate(table.archs()[0])
    path = cache.put(fp, rec)
    assert cache.get(fp, rec.arch).score == rec.score and cache.count(fp) == 1
    path.write_text("{trunc")
    assert cache.get(fp, rec.arch) is None


def test_runner_caches_and_resumes(tmp_path, tiny_config):
    est = create_estimator("bpe", config=tiny_config, dataset=DatasetSpec("digits"), device="cpu")
    archs = sample_archs("nb201", 3, 0)
    runner = Runner(cache=EvalCache(tmp_path / "c"), progress=False)
    first = runner.run(est, archs[:2])
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "c").rglob("*.json")}
    both = runner.run(est, archs)
    assert [r.score for r in both[:2]] == [r.score for r in first]
    assert all(p.stat().st_mtime_ns == t for p, t in files.items())  # nothing rewritten
    assert EvalCache(tmp_path / "c").count(est.fingerprint()) == 3


def test_evaluate_estimator_with_oracle(table):
    est = create_estimator("oracle", benchmark=table, metric="acc")
    result = evaluate_estimator(est, table, table.archs(), metric="acc", runner=Runner(progress=False))
    assert result.spearman == pytest.approx(1.0) and result.ranking.n_archs == 12
    assert {"arch", "score", "truth", "seconds", "status"} <= set(result.to_dict()["records"][0])


def test_estimator_from_spec(tmp_path, table, tiny_config):
    path = tmp_path / "cfg.json"
    tiny_config.to_json(path)
    est = estimator_from_spec(str(path), dataset=DatasetSpec("digits"))
    assert est.name == "bpe" and est.config == tiny_config
    assert estimator_from_spec("bpe-1", dataset=DatasetSpec("digits")).config.epochs == 10
    assert estimator_from_spec("oracle", truth=table, metric="acc").metric == "acc"
    with pytest.raises(EstimatorError, match="needs a ground-truth"):
        estimator_from_spec("oracle")


def test_sample_archs_bounds():
    from bpe.errors import BPEError

    with pytest.raises(BPEError, match="at least 1"):
        sample_archs("nb201", 0, 0)
    assert sample_archs("nb201", 5, 1) == sample_archs("nb201", 5, 1)


class _Exploding(Estimator):
    """Raises ``error`` on every evaluation (an out-of-memory error, a bug, or bad input)."""

    name = "exploding-test"

    def __init__(self, error):
        self.error = error
        self.calls = 0

    def fingerprint(self):
        return {"estimator": self.name}

    def _evaluate(self, arch):
        self.calls += 1
        raise self.error


def test_cached_estimator_records_an_exception_as_a_transient_failure(tmp_path):
    """One failure rule for every path: an exception of the inner estimator (here a RuntimeError,
    like CUDA running out of memory) gives a failed record, not cached, instead of ending the
    search; the next call measures again.  A BPEError (bad input) still propagates."""
    from bpe.errors import BPEError
    from bpe.estimators.cached import CachedEstimator

    arch = str(nb201.from_index(0))
    inner = _Exploding(RuntimeError("CUDA out of memory"))
    cache = EvalCache(tmp_path / "c")
    est = CachedEstimator(inner, cache)
    rec = est.evaluate(arch)
    assert not rec.ok and rec.score is None and rec.arch == arch
    assert rec.error == "RuntimeError: CUDA out of memory"
    assert rec.info["transient"] is True and "RuntimeError" in rec.info["traceback"]
    assert cache.count(inner.fingerprint()) == 0 and cache.get(inner.fingerprint(), arch) is None
    assert not est.evaluate(arch).ok and inner.calls == 2  # not cached: measured again
    with pytest.raises(RuntimeError, match="out of memory"):
        est.score(arch)

    with pytest.raises(BPEError, match="bad input"):
        CachedEstimator(_Exploding(BPEError("bad input")), cache).evaluate(arch)
    # The Runner's workers follow the same rule.
    records = Runner(cache=cache, progress=False).run(_Exploding(RuntimeError("boom")), [arch])
    assert not records[0].ok and records[0].info["transient"] and cache.count(inner.fingerprint()) == 0


def test_cached_estimator_and_runner_share_the_cache(tmp_path):
    """What a search loop measured through CachedEstimator, the Runner reads back (and vice versa)."""
    from bpe.estimators.cached import CachedEstimator

    class Counting(Estimator):
        name = "counting-test"
        calls = 0

        def fingerprint(self):
            return {"estimator": self.name}

        def _evaluate(self, arch):
            type(self).calls += 1
            return EvalRecord(arch=arch, score=float(len(arch)), status="ok")

    cache = EvalCache(tmp_path / "c")
    a, b = (str(nb201.from_index(i)) for i in (0, 1))
    first = CachedEstimator(Counting(), cache).evaluate(a)
    assert first.ok and Counting.calls == 1 and cache.count(Counting().fingerprint()) == 1
    records = Runner(cache=cache, progress=False).run(Counting(), [a, b])
    assert [r.score for r in records] == [first.score, float(len(b))] and Counting.calls == 2
    assert CachedEstimator(Counting(), cache).evaluate(b).score == records[1].score and Counting.calls == 2
