"""No orphans: after ``kill -9`` of a run's process, its local (loky) workers exit within seconds
instead of training on.  (Each worker watches its parent and ends itself when it is gone.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,  # subprocesses killed
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses kill -9 and /proc (Linux)")]

START_TIMEOUT_S = 120  # both workers busy (spawning them imports torch)
EXIT_TIMEOUT_S = 10  # workers gone after the kill (they check every 0.5 s)

SCRIPT = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path

    from bpe.estimators.base import Estimator
    from bpe.parallel import Runner
    from bpe.records import EvalRecord


    class Slow(Estimator):
        """Stands for a long training: marks its worker busy, then works for a minute."""

        name = "slow-test"

        def __init__(self, marks):
            self.marks = marks

        def fingerprint(self):
            return {"estimator": self.name}

        def _evaluate(self, arch):
            Path(self.marks, str(os.getpid())).write_text(arch)
            time.sleep(60)
            return EvalRecord(arch=arch, score=1.0, status="ok")


    if __name__ == "__main__":
        Runner(jobs=2, progress=False).run(Slow(sys.argv[1]), ["a0", "a1", "a2", "a3"])
''')


def descendants(pid: int) -> list[int]:
    """Pids of every process below ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_workers_exit_when_the_run_is_killed(tmp_path):
    """A run with two loky workers, each in a minute-long evaluation, is killed with SIGKILL:
    within seconds no process it started is left."""
    script = tmp_path / "slow_run.py"
    script.write_text(SCRIPT)
    marks = tmp_path / "busy"
    marks.mkdir()
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, str(script), str(marks)], stdout=log, stderr=subprocess.STDOUT)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(list(marks.iterdir())) < 2:
            if proc.poll() is not None:
                pytest.fail(f"the run ended (exit {proc.returncode}) before its workers started:\n"
                            f"{(tmp_path / 'run.log').read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the two workers were not busy within {START_TIMEOUT_S} s")
            time.sleep(0.05)
        workers = descendants(proc.pid)
        busy = {int(p.name) for p in marks.iterdir()}
        assert busy <= set(workers), "the busy workers are not processes of the run"

        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        killed_at = time.monotonic()
        while any(alive(pid) for pid in workers) and time.monotonic() - killed_at < EXIT_TIMEOUT_S:
            time.sleep(0.1)
        left = [pid for pid in workers if alive(pid)]
        assert not left, f"processes of the killed run still alive after {EXIT_TIMEOUT_S} s: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:  # never leave a stray worker behind, even when the test fails
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        log.close()
