"""A hybrid (a proxy training rank-averaged with a training-free scorer) is a ``RankBlend`` anchored
on the proxy: its scores are those the separate hybrid code gave (golden values, failures
included), and files written when ``hybrid`` was a ``BPEConfig`` field read as that blend."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bpe.config import BPEConfig, exported_estimator, hybrid_blend_spec
from bpe.errors import ConfigError
from bpe.estimators import estimator_from_spec
from bpe.estimators.base import Estimator
from bpe.estimators.context import EstimatorContext
from bpe.estimators.proxy import ProxyTrainingEstimator
from bpe.estimators.vote import RankBlend, member_estimator
from bpe.parallel import Runner
from bpe.records import Cost, EvalRecord

ARCHS = [f"a{i}" for i in range(8)]


class _Fixed(Estimator):
    """Scores looked up in a dict (``None``: the arch fails), at a fixed cost per arch."""

    name = "fixed"
    cheap = True

    def __init__(self, label: str, scores: list[float | None], seconds: float) -> None:
        self.label, self.scores, self.seconds = label, dict(zip(ARCHS, scores)), seconds

    def fingerprint(self) -> dict[str, Any]:
        return {"estimator": self.name, "label": self.label}

    def describe(self) -> str:
        return f"fixed({self.label})"

    def _evaluate(self, arch: str) -> EvalRecord:
        score = self.scores[arch]
        if score is None:
            return EvalRecord(arch=arch, score=None, status="failed", cost=Cost(seconds=self.seconds), error="diverged")
        return EvalRecord(arch=arch, score=score, status="ok", cost=Cost(seconds=self.seconds))


SCORER = [0.1, 0.3, 0.2, 0.2, 0.9, 0.8, 0.05, 0.4]
#: (proxy scores, scorer scores, the hybrid's scores as the separate hybrid code computed them)
GOLDEN = {
    "proxy fails": ([3.0, None, 2.0, 5.0, None, 0.5, 7.0, 6.0], SCORER,
                    [0.41666666666666663, None, 0.45833333333333337, 0.625, None, 0.5833333333333334,
                     0.5833333333333334, 0.8333333333333334]),
    "scorer fails": ([3.0, 1.0, 2.0, 5.0, 4.0, 0.5, 7.0, 6.0], [0.1, None, 0.2, None, 0.9, 0.8, 0.05, 0.4],
                     [0.41666666666666663, 0.25, 0.4375, 0.75, 0.8125, 0.4791666666666667, 0.5833333333333334,
                      0.7708333333333333]),
    "both fail": ([3.0, None, 2.0, 5.0, 4.0, None, 7.0, 3.0], [None, 0.3, 0.2, None, 0.9, None, 0.05, 0.4],
                  [0.4166666666666667, None, 0.3333333333333333, 0.8333333333333334, 0.8333333333333333, None, 0.625,
                   0.5833333333333334]),
}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_an_anchored_equal_weight_blend_gives_the_hybrid_scores_of_before(case):
    proxy_scores, scorer_scores, expected = GOLDEN[case]
    blend = RankBlend([_Fixed("proxy", proxy_scores, 2.0), _Fixed("scorer", scorer_scores, 0.5)], [1, 1],
                      anchored=True)
    records = Runner(progress=False).run(blend, ARCHS)
    assert [r.score for r in records] == expected  # identical, not approximately: stored tables reproduce
    assert [r.ok for r in records] == [s is not None for s in proxy_scores]
    assert all(r.cost.seconds == 2.5 for r in records)  # the proxy's and the scorer's
    failed = [r for r in records if not r.ok]
    assert all(r.error == "its fixed(proxy) failed: diverged" for r in failed)


def test_a_vote_is_not_anchored():
    """Unanchored (a vote, a fitted blend), an arch the first member failed keeps the others' rank."""
    proxy_scores, scorer_scores, expected = GOLDEN["proxy fails"]
    members = [_Fixed("proxy", proxy_scores, 2.0), _Fixed("scorer", scorer_scores, 0.5)]
    records = Runner(progress=False).run(RankBlend(members, [1, 1]), ARCHS)
    assert records[1].ok and records[1].score == 0.625
    assert [r.score for r in records] != expected


def test_anchoring_is_part_of_the_spec_and_fingerprint_only_when_set():
    members = [_Fixed("proxy", [1.0] * 8, 1.0), _Fixed("scorer", [1.0] * 8, 1.0)]
    plain, anchored = RankBlend(members, [1, 1]), RankBlend(members, [1, 1], anchored=True)
    assert "anchored" not in plain.fingerprint() and anchored.fingerprint()["anchored"] is True
    assert plain.describe().endswith(")") and anchored.describe().endswith(", anchored)")


def _legacy(tmp_path, name: str, doc: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


FIELDS = {"epochs": 1, "batch_size": 32, "channels": 4, "cells_per_stage": 1, "image_size": 8, "data_fraction": 0.3,
          "report": "valid_loss"}


@pytest.mark.parametrize("form", ["config", "old bpe.json", "bpe.json"])
def test_a_file_with_a_hybrid_reads_as_the_equivalent_blend(form, tmp_path):
    legacy = {**FIELDS, "hybrid": "meco"}
    doc = {"config": legacy,
           "old bpe.json": {"kind": "bpe-mip", "config": legacy, "measured": None},
           "bpe.json": {"kind": "bpe-mip", "estimator": {"family": "proxy", "config": legacy}, "config": legacy}}[form]
    path = _legacy(tmp_path, "h.json", doc)
    assert exported_estimator(path) == hybrid_blend_spec(FIELDS, "meco")
    est = estimator_from_spec(path, device="cpu")
    assert isinstance(est, RankBlend) and est.anchored and est.weights == [1.0, 1.0] and est.population
    proxy, scorer = est.members
    assert isinstance(proxy, ProxyTrainingEstimator) and proxy.config == BPEConfig.from_dict(FIELDS)
    assert scorer.name == "meco"
    assert est.to_spec()["members"][1] == {"family": "scorer", "name": "meco", "options": {"channels": 16, "layers": 17}}
    assert est.to_spec()["anchored"]
    with pytest.raises(ConfigError, match="--estimator reads this file as; drop \"hybrid\""):
        BPEConfig.from_json(path)


def test_hybrid_none_loads_silently_as_the_setting(tmp_path):
    path = _legacy(tmp_path, "c.json", {**FIELDS, "hybrid": "none"})
    assert exported_estimator(path) is None
    est = estimator_from_spec(path, device="cpu")
    assert isinstance(est, ProxyTrainingEstimator) and est.config == BPEConfig.from_dict(FIELDS)


def test_the_stored_hybrid_mip_run_reads_as_its_blend():
    est = estimator_from_spec("experiments/mip/nb201_cpu60_hybrid.json", device="cpu")
    assert isinstance(est, RankBlend) and est.anchored and [m.name for m in est.members] == ["bpe", "meco"]
    assert est.members[0].config.report == "valid_loss" and est.members[0].config.data_fraction == 0.05


def test_a_reference_config_with_a_hybrid_is_refused(tmp_path):
    from bpe.config import load_config

    with pytest.raises(ConfigError, match="hybrid"):
        load_config(_legacy(tmp_path, "ref.json", {**FIELDS, "report": "valid_accuracy", "hybrid": "meco"}))


def test_a_blend_member_scorer_comes_from_the_registry_not_a_file(tmp_path, monkeypatch):
    """A file called like the scorer in the working directory is not read as a config."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "meco").write_text("not a config")
    scorer = member_estimator({"family": "scorer", "name": "meco"}, EstimatorContext(device="cpu"))
    assert scorer.name == "meco"


def test_a_scorer_member_keeps_the_network_it_scored(caplog):
    """A blend's scorer member is exported with the network it scored, and read back at it even
    where the space's default differs; a member written without one (before bpe pinned it) is
    read at the current default, with a warning saying so."""
    from bpe.estimators.context import EstimatorContext
    from bpe.estimators.vote import member_estimator, member_spec, scorer_estimator

    est = scorer_estimator("meco", space="darts", device="cpu", options={"channels": 36, "layers": 20})
    spec = member_spec(est)
    assert spec == {"family": "scorer", "name": "meco", "options": {"channels": 36, "layers": 20}}
    back = member_estimator(spec, EstimatorContext(device="cpu", space="darts"))
    assert (back.channels, back.layers) == (36, 20) and back.fingerprint() == est.fingerprint()
    assert "without the network" not in caplog.text
    legacy = member_estimator({"family": "scorer", "name": "meco"}, EstimatorContext(device="cpu", space="darts"))
    assert (legacy.channels, legacy.layers) == (16, 8) and "without the network it scored" in caplog.text
