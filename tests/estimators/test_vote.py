"""The vote (rank-average of scorers): its rank arithmetic by hand, the spec syntax, and its use
in `bpe score`, `bpe evaluate` and as a two-stage prescreen (refused as a search estimator)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bpe.cache import EvalCache
from bpe.errors import BPEError, EstimatorError
from bpe.estimators import estimator_from_spec, parse_spec, split_specs
from bpe.estimators.context import EstimatorContext
from bpe.estimators.vote import Vote, rank_average
from bpe.parallel import Runner
from bpe.spaces import nb201


def test_rank_average_by_hand():
    # column a: 3 < 1 < 2 -> ranks 3/3, 1/3, 2/3 ; column b: 5, 5 tie for the top, 0 last -> 2.5/3, 2.5/3, 1/3
    assert rank_average([[3.0, 1.0, 2.0], [5.0, 5.0, 0.0]]) == pytest.approx(
        [(1 + 2.5 / 3) / 2, (1 / 3 + 2.5 / 3) / 2, (2 / 3 + 1 / 3) / 2])


def test_log_rank_average_by_hand():
    """AZ-NAS's aggregation: the mean of the ranks' logarithms; one bad rank costs more than one
    good rank gives, so it can reorder what the plain mean ties."""
    cols = [[3.0, 1.0, 2.0], [1.0, 3.0, 2.0]]
    assert rank_average(cols, log=True) == pytest.approx(
        [(math.log(1.0) + math.log(1 / 3)) / 2, (math.log(1 / 3) + math.log(1.0)) / 2, math.log(2 / 3)])
    assert rank_average(cols) == pytest.approx([2 / 3, 2 / 3, 2 / 3])  # the plain mean ties all three


def test_rank_average_leaves_failures_out_of_ranking_and_mean():
    # b failed on the first arch: b ranks the other two among themselves (1/2, 2/2)
    out = rank_average([[1.0, 2.0, 3.0], [None, 7.0, 9.0]])
    assert out == pytest.approx([1 / 3, (2 / 3 + 1 / 2) / 2, (1 + 1) / 2])
    assert rank_average([[None, 1.0], [None, 2.0]])[0] is None


def test_spec_syntax():
    assert parse_spec("vote:naswot,synflow") == ("vote", {"members": ("naswot", "synflow")})
    assert parse_spec("vote:naswot+synflow") == ("vote", {"members": ("naswot", "synflow")})
    assert split_specs("params, vote:naswot,synflow") == ["params", "vote:naswot,synflow"]
    assert split_specs("vote:naswot+synflow,params") == ["vote:naswot+synflow", "params"]
    assert split_specs("a,b") == ["a", "b"]


def test_bad_votes_are_refused():
    with pytest.raises(EstimatorError, match="at least two"):
        estimator_from_spec("vote:naswot")
    with pytest.raises(EstimatorError, match="twice"):
        estimator_from_spec("vote:naswot,naswot")
    with pytest.raises(EstimatorError, match="did you mean 'naswot'"):
        estimator_from_spec("vote:naswt,synflow")


def test_vote_through_the_runner_is_the_rank_average_of_its_members(tmp_path):
    context = EstimatorContext(device="cpu")
    vote = Vote.tiny(context)
    archs = [str(a) for a in nb201.sample(8, 3)]
    runner = Runner(cache=EvalCache(tmp_path), progress=False)
    records = runner.run(vote, archs)
    columns = [[m.evaluate(a).score for a in archs] for m in vote.members]
    # independent arithmetic: rank = 1 + number of smaller + half the other equals, / n
    expected = []
    for i in range(len(archs)):
        ranks = [(1 + sum(v < c[i] for v in c) + 0.5 * (sum(v == c[i] for v in c) - 1)) / len(c) for c in columns]
        expected.append(sum(ranks) / len(ranks))
    assert [r.score for r in records] == pytest.approx(expected)
    assert all(r.cost.seconds > 0 for r in records)
    assert records[0].info["members"] == {m.name: c[0] for m, c in zip(vote.members, columns)}


def test_score_job_writes_a_vote_column(tmp_path):
    from bpe.data import DatasetSpec
    from bpe.scoring import score_job

    runner = Runner(cache=EvalCache(tmp_path / "cache"), progress=False)
    frame, _, _, labels = score_job("params,vote:params,flops", dataset=DatasetSpec("digits"), archs=6, seed=0,
                                    runner=runner, out=tmp_path / "s.csv", device="cpu",
                                    options={"channels": 4, "cells_per_stage": 1, "image_size": 8})
    assert labels == ["params", "vote:params+flops"]
    saved = pd.read_csv(tmp_path / "s.csv")
    assert list(saved["vote:params+flops"]) == pytest.approx(
        rank_average([list(frame["params"]), _flops(frame)]))


def _flops(frame):
    est = estimator_from_spec("flops", device="cpu", options={"channels": 4, "cells_per_stage": 1, "image_size": 8})
    return [est.evaluate(a).score for a in frame["arch"]]


def test_search_refuses_a_vote_and_takes_it_as_prescreen(tmp_path):
    from bpe.data import DatasetSpec
    from search_algos.jobs import search_job

    archs = [str(a) for a in nb201.sample(40, 0)]
    truth = tmp_path / "truth.csv"
    pd.DataFrame({"arch_str": archs, "v11_cifar10valid_valid": range(40),
                  "nats_cifar10valid_train_sec_per_epoch": 1.0}).to_csv(truth, index=False)
    runner = Runner(cache=EvalCache(tmp_path / "cache"), progress=False)
    common = dict(dataset=DatasetSpec("digits"), truth_spec=str(truth), metric="v11_cifar10valid_valid", runs=1,
                  seed=0, runner=runner, device="cpu", progress=False)
    with pytest.raises(BPEError, match="prescreen"):
        search_job(algos=["random"], estimator_spec="vote:params,flops", budget_spec="5", out=f"{tmp_path}/a/",
                   **common)
    result, _ = search_job(algos=["random"], estimator_spec="params", prescreen_spec="vote:params,flops", pool=10,
                           budget_spec="13", out=f"{tmp_path}/b/", **common)
    run = result.runs[0]
    assert run.n_evaluations == 13 and run.result.algorithm.startswith("two-stage(vote")


@pytest.mark.parametrize("spec,needle", [("vote:naswot", "at least two"), ("vote:naswot,naswt", "did you mean"),
                                         ("vote:", "lists its scorers")])
def test_cli_bad_vote_is_one_line_exit_2(spec, needle, tmp_path, capsys):
    from bpe.cli import main

    assert main(["score", "--estimator", spec, "--archs", "3", "--out", str(tmp_path / "s.csv"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "s.csv").exists()
