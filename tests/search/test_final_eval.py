"""The final-evaluation protocol: train on all train images and report on the test set
(``holdout='test'``), gradient clipping, and the evaluated-arch record of a search run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpe.cli import main
from bpe.config import BPEConfig
from bpe.data import DatasetSpec, load_arrays, prepare_split
from bpe.errors import BPEError
from bpe.estimators.proxy import ProxyTrainingEstimator, training_key

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_test_holdout_trains_on_every_train_image_and_reports_on_the_test_set():
    spec = DatasetSpec("digits", holdout="test")
    arrays = load_arrays(spec)
    split = prepare_split(spec, 1.0)
    assert len(split.train_y) == len(arrays.train_y) and len(split.valid_y) == len(arrays.test_y)
    assert np.array_equal(split.valid_y.numpy(), arrays.test_y)
    search = prepare_split(DatasetSpec("digits"), 1.0)  # the search protocol halves the train images
    assert len(search.train_y) + len(search.valid_y) == len(arrays.train_y)
    half = prepare_split(spec, 0.5)  # data_fraction thins the training images only
    assert abs(len(half.train_y) - len(arrays.train_y) / 2) <= 10 and len(half.valid_y) == len(arrays.test_y)


def test_holdout_enters_the_cache_key_only_when_it_is_the_test_set():
    valid, test = DatasetSpec("digits"), DatasetSpec("digits", holdout="test")
    assert "holdout" not in valid.fingerprint()  # entries cached before the option stay valid
    assert test.fingerprint()["holdout"] == "test" and "valid_fraction" not in test.fingerprint()
    with pytest.raises(BPEError, match="unknown holdout 'train'"):
        DatasetSpec("digits", holdout="train")


def test_score_cli_holdout_test(tmp_path):
    out = tmp_path / "final.csv"
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"epochs": 1, "batch_size": 32, "channels": 2, "layers": 5, "image_size": 8}))
    assert main(["score", "--estimator", str(config), "--dataset", "digits", "--holdout", "test", "--archs", "2",
                 "--out", str(out), "--quiet"]) == 0
    assert out.is_file()
    assert main(["score", "--estimator", str(config), "--dataset", "digits", "--holdout", "tset", "--archs", "2",
                 "--out", str(out), "--quiet"]) == 2


def test_grad_clip_is_checked_left_out_of_old_keys_and_changes_training(tiny_config):
    from bpe.training import train_and_evaluate

    assert "grad_clip" not in training_key(tiny_config, "nb201")
    clipped = tiny_config.replace(grad_clip=0.01, learning_rate=0.5)
    assert training_key(clipped, "nb201")["grad_clip"] == 0.01
    with pytest.raises(BPEError, match="grad_clip"):
        BPEConfig(grad_clip=-1.0)
    data = prepare_split(DatasetSpec("digits"), tiny_config.data_fraction)
    free = train_and_evaluate(ARCH, tiny_config.replace(learning_rate=0.5), data, device="cpu", num_threads=1)
    tight = train_and_evaluate(ARCH, clipped, data, device="cpu", num_threads=1)
    assert free.status == tight.status == "ok" and free.train_loss != pytest.approx(tight.train_loss, rel=1e-6)


def test_search_keeps_the_archs_each_run_evaluated(tmp_path):
    from bpe.parallel import Runner
    from search_algos.jobs import search_job

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"epochs": 1, "batch_size": 32, "channels": 2, "layers": 5, "image_size": 8,
                                  "data_fraction": 0.2}))
    kw = dict(algos=["random", "rea"], estimator_spec=str(config), dataset=DatasetSpec("digits"), truth_spec=None,
              metric="v11_cifar10valid_valid", budget_spec="4", runs=1, seed=0, device="cpu",
              runner=Runner(progress=False), progress=False)
    result, _ = search_job(**kw, out=tmp_path / "s.json", keep_evaluated=True)
    for run in result.to_dict()["runs"]:  # as search.json has them
        evaluated = run["evaluated"]
        assert len(evaluated) == run["n_evaluations"] == 4
        assert len({e["arch"] for e in evaluated}) == 4
        assert sum(e["seconds"] for e in evaluated) == pytest.approx(run["spent"]["seconds"])
        assert run["arch"] in {e["arch"] for e in evaluated}
    assert result.to_dict() == {k: v for k, v in json.loads((tmp_path / "s.json").read_text()).items() if k != "files"}
    plain, _ = search_job(**kw, out=tmp_path / "t.json")
    assert plain.runs[0].evaluated is None and "evaluated" not in plain.to_dict()["runs"][0]


def test_the_score_of_a_final_evaluation_is_its_test_accuracy():
    config = BPEConfig(epochs=1, batch_size=32, channels=2, layers=5, image_size=8)
    est = ProxyTrainingEstimator(config, DatasetSpec("digits", holdout="test"), device="cpu")
    record = est.evaluate(ARCH)
    assert record.ok and record.info["n_valid"] == len(load_arrays(DatasetSpec("digits")).test_y)
