"""Resuming an interrupted evaluation from the on-disk cache.

* A ``bpe evaluate`` killed with SIGKILL mid-way keeps every finished record; the rerun
  reads them back (their files are not rewritten), computes only the rest, and reports
  ``seconds_per_arch`` over all archs, cached ones at their recorded cost.
* An unreadable (truncated) cache file is ignored with a warning and recomputed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bpe.spaces import nb201

N_ARCHS = 8
# About 0.5-1 s per arch on one CPU thread: slow enough to kill between records.
RESUME_CONFIG = {"epochs": 10, "batch_size": 32, "channels": 4, "cells_per_stage": 1, "image_size": 8,
                 "data_fraction": 0.3}
TINY_CONFIG = {"epochs": 1, "batch_size": 32, "channels": 2, "cells_per_stage": 1, "image_size": 8,
               "data_fraction": 0.2}
KILL_TIMEOUT_S = 180


def write_truth(path: Path, n: int, seed: int = 0) -> Path:
    """A ``arch_str,acc`` table holding exactly the archs ``bpe evaluate --archs n --seed seed`` samples."""
    rng = np.random.default_rng(1234)
    lines = ["arch_str,acc"] + [f"{arch},{rng.uniform(50, 95):.4f}" for arch in nb201.sample_nested(n, seed)]
    path.write_text("\n".join(lines) + "\n")
    return path


def record_files(cache: Path) -> list[Path]:
    """The per-arch record files of every estimator namespace under ``cache``."""
    return sorted(p for p in cache.glob("*/*.json") if p.name != "fingerprint.json")


@pytest.mark.slow  # a subprocess killed and rerun
def test_sigkill_then_rerun_resumes_without_recomputing(tmp_path):
    """Kill an evaluation after 2..7 of 8 records; the rerun reuses them untouched and finishes."""
    config = tmp_path / "resume.json"
    config.write_text(json.dumps(RESUME_CONFIG))
    truth = write_truth(tmp_path / "truth.csv", N_ARCHS)
    cache = tmp_path / "cache"
    out = tmp_path / "results" / "R.json"
    out.parent.mkdir()
    sentinel = b'{"sentinel": "results of an earlier run"}\n'
    out.write_bytes(sentinel)
    argv = [sys.executable, "-m", "bpe.cli", "evaluate", "--estimator", str(config), "--dataset", "digits",
            "--truth", str(truth), "--metric", "acc", "--archs", str(N_ARCHS), "--jobs", "1",
            "--cache-dir", str(cache), "--out", str(out), "--quiet", "--no-plot", "--noise-archs", "0"]
    # One torch thread: deterministic, and fast on a busy machine (no oversubscription).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + KILL_TIMEOUT_S
        while True:
            n = len(record_files(cache))
            if 2 <= n < N_ARCHS:
                os.kill(proc.pid, signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"the evaluation ended (exit {proc.returncode}) with {n} records before it could be "
                            f"killed between 2 and {N_ARCHS - 1}; output:\n{(tmp_path / 'first.log').read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no kill window within {KILL_TIMEOUT_S} s ({n} records); output:\n"
                            f"{(tmp_path / 'first.log').read_text()}")
            time.sleep(0.01)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    done = record_files(cache)
    assert 2 <= len(done) < N_ARCHS, f"{len(done)} records after the kill; cannot show a resume"
    before = {p: p.stat().st_mtime_ns for p in done}
    cached = {}
    for p in done:  # the kill left only complete records (atomic writes)
        record = json.loads(p.read_text())
        assert record["status"] == "ok"
        cached[record["arch"]] = record
    assert out.read_bytes() == sentinel, "the killed run must not write the results file"

    second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr

    result = json.loads(out.read_text())
    records = result["records"]
    assert len(records) == N_ARCHS and result["n_ok"] == N_ARCHS
    assert [r["arch"] for r in records] == [str(a) for a in nb201.sample_nested(N_ARCHS, 0)]
    assert {p: p.stat().st_mtime_ns for p in before} == before, "finished records were recomputed"
    assert len(record_files(cache)) == N_ARCHS
    for r in records:  # cached archs come back with their stored score and cost
        if r["arch"] in cached:
            assert r["score"] == cached[r["arch"]]["score"]
            assert r["seconds"] == cached[r["arch"]]["seconds"] > 0
    seconds = [r["seconds"] for r in records]
    assert all(s > 0 for s in seconds)
    assert result["seconds_per_arch"] == pytest.approx(sum(seconds) / N_ARCHS, rel=1e-12)


@pytest.fixture
def one_torch_thread():
    """Train in this process with one thread (fast on a busy machine); restore afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_truncated_cache_file_is_ignored_and_recomputed(tmp_path, caplog, one_torch_thread):
    """A cache file cut short (e.g. by a full disk) is skipped with a warning and recomputed."""
    from bpe.cache import EvalCache
    from bpe.config import BPEConfig
    from bpe.data import DatasetSpec
    from bpe.estimators.proxy import ProxyTrainingEstimator
    from bpe.parallel import Runner

    estimator = ProxyTrainingEstimator(BPEConfig.from_dict(TINY_CONFIG), DatasetSpec("digits"), device="cpu")
    runner = Runner(cache=EvalCache(tmp_path / "cache"), progress=False)
    archs = [str(a) for a in nb201.sample_nested(2, 0)]
    first = runner.run(estimator, archs)
    files = record_files(tmp_path / "cache")
    assert len(files) == 2 and all(r.ok for r in first)

    broken = next(p for p in files if json.loads(p.read_text())["arch"] == archs[0])
    intact = next(p for p in files if p != broken)
    text = broken.read_text()
    broken.write_text(text[: len(text) // 2])
    intact_mtime = intact.stat().st_mtime_ns

    with caplog.at_level(logging.WARNING, logger="bpe.cache"):
        second = runner.run(estimator, archs)
    assert any("ignoring unreadable cache file" in m and broken.name in m for m in caplog.messages)
    assert [r.arch for r in second] == archs and all(r.ok for r in second)
    assert second[0].score == first[0].score  # recomputed, deterministic
    assert json.loads(broken.read_text())["arch"] == archs[0], "the recomputed record was stored again"
    assert intact.stat().st_mtime_ns == intact_mtime, "the readable record was recomputed"
