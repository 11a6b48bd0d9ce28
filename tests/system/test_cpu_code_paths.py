"""Torch's AVX2 code paths, forced on a CPU that has more (``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX2``): the project's CPU kernels must give reproducible results there
too.  Subprocesses (the variables are read at torch's start), so in the slow tier."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.slow

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def _run_on_avx2(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **AVX2}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() == "DEFAULT", reason="this CPU has no AVX2")
def test_the_variables_restrict_torch_to_avx2():
    out = _run_on_avx2("import torch; print(torch.backends.cpu.get_cpu_capability())")
    assert out.stdout.strip() == "AVX2", out.stderr


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() == "DEFAULT", reason="this CPU has no AVX2")
@pytest.mark.parametrize("threads", [1, 2])
def test_seeded_oneshot_searches_are_reproducible_on_avx2(threads):
    """Was: darts-v2 on the DARTS space derived different cells from two seeded runs on AVX2 (two
    threads), or aborted the interpreter (one thread), through FactorizedReduce's strided 1x1
    convolution; each method's two runs must now agree to the bit."""
    out = _run_on_avx2(f"""
        import torch
        from bpe.config import BPEConfig
        from bpe.data import DatasetSpec, prepare_split
        from search_algos.oneshot import ONESHOT_METHODS, oneshot_search
        torch.set_num_threads({threads})
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"
        data = prepare_split(DatasetSpec("digits"), 0.2)
        config = BPEConfig(epochs=1, batch_size=32, channels=2, layers=3, image_size=8, data_fraction=0.1)
        for method in ONESHOT_METHODS:
            runs = [oneshot_search(method, config, data, space="darts", device="cpu") for _ in range(3)]
            assert all(r.ok for r in runs), [r.error for r in runs]
            assert all(r.probabilities == runs[0].probabilities for r in runs), method
            assert all(r.arch == runs[0].arch for r in runs), method
        print("reproducible")
    """)
    assert out.returncode == 0 and "reproducible" in out.stdout, out.stderr[-3000:]
