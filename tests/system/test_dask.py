"""``bpe evaluate --backend dask`` on a real (local, multi-process) Dask cluster gives the same
per-arch scores and Spearman as the local loky backend.

Thread count matters for bit-exactness (intra-op threads change float summation order, so
losses can differ in the last bits).  Every evaluation trains with the same fixed number of
torch threads (one) whatever the backend and ``--jobs``, so both sides are compared exactly,
losses included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip(
    "dask.distributed", reason="the dask extra is not installed: pip install '.[dask]'"
)

from bpe.cache import EvalCache  # noqa: E402
from bpe.cli import main  # noqa: E402
from bpe.spaces import nb201  # noqa: E402

pytestmark = pytest.mark.slow  # a real local Dask cluster

N_ARCHS = 6
# Small but above chance (about 0.2 s per arch), so the scores are not all ties.
TINY_CONFIG = {"epochs": 3, "batch_size": 32, "channels": 4, "cells_per_stage": 1, "image_size": 8,
               "data_fraction": 0.3}


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on localhost, closed after the module.

    The nanny writes its pre-spawn variables (OMP_NUM_THREADS=1, ...) into this process's
    environment; they are restored afterwards so later tests are unaffected."""
    saved = os.environ.copy()
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as c:
            yield c
    finally:
        os.environ.clear()
        os.environ.update(saved)


def write_truth(path: Path, n: int, seed: int = 0) -> Path:
    """A ``arch_str,acc`` table of ``n`` seeded archs; it is also the list of archs to evaluate."""
    rng = np.random.default_rng(1234)
    lines = ["arch_str,acc"] + [f"{arch},{rng.uniform(50, 95):.4f}" for arch in nb201.sample(n, seed)]
    path.write_text("\n".join(lines) + "\n")
    return path


def evaluate(tmp_path: Path, name: str, *backend_args: str) -> dict:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_CONFIG))
    truth = write_truth(tmp_path / "truth.csv", N_ARCHS)
    out = tmp_path / name / "results.json"
    code = main(["evaluate", "--estimator", str(config), "--dataset", "digits", "--device", "cpu",
                 "--truth", str(truth), "--metric", "acc", "--archs", str(truth),  # its archs, in its order
                 "--cache-dir", str(tmp_path / name / "cache"), "--out", str(out), "--quiet", "--no-plot",
                 *backend_args])
    assert code == 0
    return json.loads(out.read_text())


def test_dask_matches_loky(cluster, tmp_path):
    """Same archs, same config, one thread each: dask (2 worker processes) and loky (one job per
    core) agree exactly, arch by arch (score and validation loss), and so in Spearman."""
    on_dask = evaluate(tmp_path, "dask", "--jobs", "2", "--backend", "dask", "--scheduler",
                       cluster.scheduler_address)
    on_loky = evaluate(tmp_path, "loky", "--jobs", str(os.cpu_count() or 1), "--backend", "loky")
    for result in (on_dask, on_loky):
        assert {r["info"]["threads"] for r in result["records"]} == {1}

    for result in (on_dask, on_loky):
        assert result["n_archs"] == result["n_ok"] == N_ARCHS
    dask_scores = {r["arch"]: r["score"] for r in on_dask["records"]}
    loky_scores = {r["arch"]: r["score"] for r in on_loky["records"]}
    assert set(dask_scores) == {str(a) for a in nb201.sample(N_ARCHS, 0)}
    assert dask_scores == loky_scores
    assert len(set(dask_scores.values())) > 1, "all scores tied: the config is too small to rank"
    dask_losses = {r["arch"]: r["info"]["valid_loss"] for r in on_dask["records"]}
    assert dask_losses == {r["arch"]: r["info"]["valid_loss"] for r in on_loky["records"]}
    assert on_dask["spearman"] == on_loky["spearman"]
    # Both caches hold every arch: the dask workers wrote theirs to the shared folder.  (Counted
    # under the estimator's own fingerprint: the run may cache other measurements beside it.)
    for name, result in (("dask", on_dask), ("loky", on_loky)):
        fingerprint = {k: v for k, v in result["estimator"].items() if k not in ("name", "description")}
        assert EvalCache(tmp_path / name / "cache").count(fingerprint) == N_ARCHS


def test_a_worker_killed_mid_evaluation_changes_nothing(tmp_path):
    """A Dask worker process killed (SIGKILL) while it trains: the nanny restarts it, the scheduler
    gives its tasks to a worker again, and the run finishes with the same scores, arch by arch, as
    an undisturbed run."""
    import signal
    import threading
    import time

    saved = os.environ.copy()
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as c, distributed.Client(c) as client:
            pids = list(client.run(os.getpid).values())
            slow = {**TINY_CONFIG, "epochs": 12}  # about a second per arch: time to kill one mid-training
            config = tmp_path / "slow.json"
            config.write_text(json.dumps(slow))
            truth = write_truth(tmp_path / "truth.csv", N_ARCHS)

            def run(name: str, *backend: str) -> dict:
                out = tmp_path / name / "results.json"
                code = main(["evaluate", "--estimator", str(config), "--dataset", "digits", "--device", "cpu",
                             "--truth", str(truth), "--metric", "acc", "--archs", str(truth),
                             "--cache-dir", str(tmp_path / name / "cache"), "--out", str(out), "--quiet",
                             "--no-plot", "--noise-archs", "0", *backend])
                assert code == 0
                return json.loads(out.read_text())

            killed_at: list[float] = []

            def killer() -> None:  # as soon as the first arch is done: the rest are in flight
                cache = tmp_path / "dask" / "cache"
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not [
                        p for p in cache.glob("*/*.json") if p.name != "fingerprint.json"]:
                    time.sleep(0.05)
                os.kill(pids[0], signal.SIGKILL)
                killed_at.append(time.monotonic())

            thread = threading.Thread(target=killer)
            thread.start()
            disturbed = run("dask", "--jobs", "2", "--backend", "dask", "--scheduler", c.scheduler_address)
            finished_at = time.monotonic()
            thread.join()
            assert killed_at and killed_at[0] < finished_at  # killed while the run was still going
            assert pids[0] not in client.run(os.getpid).values() or len(client.run(os.getpid)) < 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
    calm = run("loky", "--jobs", "1")
    assert [r["arch"] for r in disturbed["records"]] == [r["arch"] for r in calm["records"]]
    assert [r["score"] for r in disturbed["records"]] == [r["score"] for r in calm["records"]]
    assert disturbed["spearman"] == calm["spearman"]


def searched_on_and_off(cluster, tmp_path, *args: str) -> tuple[set[int], list[dict], list[dict]]:
    """(the cluster's worker pids, the runs of ``bpe search ARGS`` on the cluster, the same runs here)."""
    client = distributed.Client(cluster.scheduler_address)
    try:
        worker_pids = set(client.run(os.getpid).values())
    finally:
        client.close()
    common = ["search", *args, "--cache-dir", str(tmp_path / "cache"), "--quiet", "--no-plot"]
    assert main([*common, "--jobs", "2", "--backend", "dask", "--scheduler", cluster.scheduler_address,
                 "--out", str(tmp_path / "dask.json")]) == 0
    assert main([*common, "--out", str(tmp_path / "local.json")]) == 0
    assert os.getpid() not in worker_pids
    return (worker_pids, json.loads((tmp_path / "dask.json").read_text())["runs"],
            json.loads((tmp_path / "local.json").read_text())["runs"])


def test_bpe_search_runs_its_searches_on_the_cluster(cluster, tmp_path):
    """``bpe search --backend dask --scheduler ADDRESS``: every run is a task of the cluster's
    workers (their pids, not this process's), and finds what local runs find."""
    worker_pids, on_dask, local = searched_on_and_off(cluster, tmp_path, "--algo", "random,rea", "--estimator",
                                                      "params", "--budget", "6", "--runs", "3")
    assert len(on_dask) == 6 and {r["worker"]["pid"] for r in on_dask} <= worker_pids
    assert {r["worker"]["pid"] for r in local} == {os.getpid()}
    assert [(r["algorithm"], r["seed"], r["arch"], r["score"]) for r in on_dask] == \
        [(r["algorithm"], r["seed"], r["arch"], r["score"]) for r in local]


def test_a_two_stage_search_runs_whole_on_the_cluster(cluster, tmp_path):
    """With ``--prescreen`` each run (its pool scored, then its budget spent) is one cluster task."""
    worker_pids, on_dask, local = searched_on_and_off(cluster, tmp_path, "--algo", "random", "--prescreen", "flops",
                                                      "--pool", "8", "--estimator", "params", "--budget", "3",
                                                      "--runs", "2")
    assert len(on_dask) == 2 and {r["worker"]["pid"] for r in on_dask} <= worker_pids
    assert [(r["seed"], r["arch"], r["score"]) for r in on_dask] == [(r["seed"], r["arch"], r["score"]) for r in local]
