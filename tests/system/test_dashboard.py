"""A MIP run watched live: ``optuna-dashboard`` started on the storage beside a running ``bpe
mip`` serves its study, its trials as they are measured and its Pareto front (read over HTTP)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from support import mip_argv

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is in the test extra: pip install -e '.[test]'")

pytestmark = pytest.mark.slow  # two servers and a live MIP run in subprocesses


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_optuna_dashboard_shows_a_running_mip(tmp_path):
    storage = f"sqlite:///{tmp_path / 'mip.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BPE_CACHE_DIR": str(tmp_path / "c")}
    optuna.storages.RDBStorage(storage)  # the dashboard serves an existing storage (it creates no tables)
    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or "optuna-dashboard"
    dashboard = subprocess.Popen([command, storage, "--host", "127.0.0.1", "--port", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mip = None
    try:
        deadline = time.monotonic() + 60
        while True:  # the server is up
            try:
                get(f"{base}/api/studies")
                break
            except OSError:
                assert dashboard.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.2)
        argv = mip_argv(tmp_path, tmp_path / "bpe.json", tmp_path / "c", "--storage", storage, "--study-name", "live",
                        archs=6)
        mip = subprocess.Popen([sys.executable, "-m", "bpe.cli", *argv], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        seen_live = 0
        while mip.poll() is None:  # trials appear while the run goes on
            summaries = get(f"{base}/api/studies")["study_summaries"]
            if summaries:
                detail = get(f"{base}/api/studies/{summaries[0]['study_id']}?after=0")
                seen_live = max(seen_live, len(detail["trials"]))
            time.sleep(0.2)
        assert mip.returncode == 0, mip.stderr.read()
        assert seen_live >= 1, "no trial was served while the run went on"
        doc = json.loads((tmp_path / "bpe.json").read_text())
        summaries = get(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["live"]
        assert summaries[0]["directions"] == ["maximize", "minimize"]
        detail = get(f"{base}/api/studies/{summaries[0]['study_id']}?after=0")
        assert len(detail["trials"]) == len(doc["trajectory"]) > seen_live - 1
        assert {p["name"] for p in detail["trials"][0]["params"]} <= set(doc["knobs"])
        assert detail["best_trials"], "no Pareto front"
    finally:
        for proc in (mip, dashboard):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
