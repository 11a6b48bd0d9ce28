"""The training loop: determinism, failure on divergence, precision, device handling."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from bpe.config import BPEConfig
from bpe.data import DatasetSpec, prepare_split
from bpe.errors import ConfigError
from bpe.runtime import resolve_device
from bpe.training import train_and_evaluate

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def digits():
    return prepare_split(DatasetSpec("digits"), 0.3)


def test_deterministic_for_a_seed(digits, tiny_config):
    a = train_and_evaluate(ARCH, tiny_config, digits, device="cpu", num_threads=1)
    b = train_and_evaluate(ARCH, tiny_config, digits, device="cpu", num_threads=1)
    assert a.status == "ok" and a.valid_accuracy == b.valid_accuracy and a.train_loss == b.train_loss
    c = train_and_evaluate(ARCH, tiny_config.replace(seed=1), digits, device="cpu", num_threads=1)
    assert c.train_loss != a.train_loss


def test_learns_something(digits):
    cfg = BPEConfig(epochs=8, batch_size=32, learning_rate=0.05, channels=8, layers=5, image_size=8,
                    data_fraction=0.3)
    r = train_and_evaluate(ARCH, cfg, digits, device="cpu", eval_every_epoch=True)
    assert r.status == "ok" and r.epochs_run == 8 and len(r.history) == 8
    assert r.valid_accuracy > 50.0  # chance is 10%
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert 0 <= r.data_seconds < r.seconds and r.num_params > 0


def test_divergence_is_a_recorded_failure(digits, tiny_config):
    """Inputs that overflow (std 0) give a non-finite loss: a failure with its reason, no accuracy."""
    broken = dataclasses.replace(digits, std=torch.zeros(3))
    r = train_and_evaluate(ARCH, tiny_config, broken, device="cpu")
    assert r.status == "failed"
    assert r.valid_accuracy is None and "non-finite" in r.error and "learning_rate" in r.error


def test_bf16_on_cpu(digits, tiny_config):
    r = train_and_evaluate(ARCH, tiny_config.replace(precision="bf16"), digits, device="cpu")
    assert r.status == "ok" and math.isfinite(r.valid_accuracy)


def test_fp16_needs_cuda(digits, tiny_config):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: fp16 is allowed")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        train_and_evaluate(ARCH, tiny_config.replace(precision="fp16"), digits, device="cpu")


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_path(digits, tiny_config):
    r = train_and_evaluate(ARCH, tiny_config.replace(precision="fp16"), digits, device="cuda")
    assert r.status == "ok" and r.device.startswith("cuda")


@pytest.mark.slow  # worker processes (loky)
def test_score_does_not_depend_on_jobs():
    """Every evaluation trains with the same number of torch threads whatever ``--jobs`` is (the
    thread count changes the order of float reductions), so three archs scored without a cache
    in this process (jobs=1) and in two worker processes (jobs=2) agree bit for bit; this
    process's own thread count is restored afterwards.

    At this size (16 channels, 16x16 images) one and two threads give different losses for
    each of the three archs, so the score (the validation loss) would differ if the thread
    count followed ``--jobs`` (cores // jobs) on a machine with two cores or more."""
    from bpe.estimators import create_estimator
    from bpe.parallel import Runner
    from bpe.runtime import EVAL_THREADS
    from bpe.spaces import nb201

    config = BPEConfig(epochs=1, batch_size=64, channels=16, layers=5, image_size=16, data_fraction=0.2,
                       report="valid_loss")
    est = create_estimator("bpe", config=config, dataset=DatasetSpec("digits"), device="cpu")
    archs = [str(a) for a in nb201.sample(3, 0)]
    before = torch.get_num_threads()
    one = Runner(jobs=1, progress=False).run(est, archs)
    assert torch.get_num_threads() == before
    two = Runner(jobs=2, progress=False).run(est, archs)
    assert all(r.ok for r in one + two) and [r.arch for r in two] == archs
    assert {r.info["threads"] for r in one + two} == {EVAL_THREADS}
    assert [r.score for r in one] == [r.score for r in two]
    assert [(r.info["valid_loss"], r.info["train_losses"]) for r in one] == \
        [(r.info["valid_loss"], r.info["train_losses"]) for r in two]
