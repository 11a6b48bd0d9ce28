"""Screenshots of optuna-dashboard watching a live ``bpe mip`` run (the Quickstart's command), for
the documentation (docs/optuna.md).

    npm install --prefix experiments/dashboard @sparticuz/chromium@131 puppeteer-core@23
    python experiments/dashboard_screenshot.py --out-dir docs/img

Starts ``optuna-dashboard`` on a fresh SQLite storage, then the Quickstart's ``bpe mip`` with
``--storage`` pointing at it (a fresh evaluation cache, so every setting is trained while the
dashboard looks on), takes a screenshot of the study page once a few trials are in and again when
the run has finished (the study page with its Pareto front, and the trials table).  The run is a
user's command, so it runs as one (a subprocess), exactly as the Quickstart types it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def shoot(node_dir: Path, *pairs: str) -> None:
    """``node screenshot.js URL OUT ...`` with the npm packages installed under ``node_dir``."""
    env = {**os.environ, "NODE_PATH": str(node_dir / "node_modules")}
    subprocess.run(["node", str(HERE / "dashboard" / "screenshot.js"), *pairs], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="docs/img")
    parser.add_argument("--node-dir", default=str(HERE / "dashboard"),
                        help="where `npm install @sparticuz/chromium puppeteer-core` was run")
    parser.add_argument("--live-trials", type=int, default=4, help="trials in before the mid-run screenshot")
    args = parser.parse_args()
    import optuna

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bpe.db'}"
        optuna.storages.RDBStorage(storage)  # optuna-dashboard serves an existing storage (it creates no tables)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or "optuna-dashboard"
        dashboard = subprocess.Popen([command, storage, "--host", "127.0.0.1", "--port", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        mip = None
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    get(f"{base}/api/studies")
                    break
                except OSError:
                    if dashboard.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("optuna-dashboard did not start") from None
                    time.sleep(0.3)
            argv = ["mip", "--dataset", "digits", "--truth", "reference", "--archs", "20", "--per-round", "3",
                    "--jobs", "2", "--out", str(Path(tmp) / "bpe.json"), "--storage", storage,
                    "--study-name", "quickstart", "--cache-dir", str(Path(tmp) / "cache"), "--quiet"]
            print("bpe " + " ".join(argv), flush=True)
            mip = subprocess.Popen([sys.executable, "-m", "bpe.cli", *argv])
            shot_live = False
            while mip.poll() is None:
                summaries = get(f"{base}/api/studies")["study_summaries"]
                if summaries and not shot_live:
                    sid = summaries[0]["study_id"]
                    n = len(get(f"{base}/api/studies/{sid}?after=0")["trials"])
                    if n >= args.live_trials:
                        shoot(Path(args.node_dir), f"{base}/dashboard/studies/{sid}", str(out / "dashboard_live.png"))
                        print(f"mid-run screenshot at {n} trials", flush=True)
                        shot_live = True
                time.sleep(1.0)
            if mip.returncode != 0:
                raise SystemExit(f"bpe mip failed (exit {mip.returncode})")
            sid = get(f"{base}/api/studies")["study_summaries"][0]["study_id"]
            detail = get(f"{base}/api/studies/{sid}?after=0")
            print(f"finished: {len(detail['trials'])} trials, {len(detail['best_trials'])} on the Pareto front")
            shoot(Path(args.node_dir), f"{base}/dashboard/studies/{sid}", str(out / "dashboard_study.png"),
                  f"{base}/dashboard/studies/{sid}/trials", str(out / "dashboard_trials.png"))
        finally:
            for proc in (mip, dashboard):
                if proc is not None and proc.poll() is None:
                    proc.kill()


if __name__ == "__main__":
    main()
