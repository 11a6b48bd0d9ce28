"""Kernel choices by measurement (bpe.probe): measured once per machine, kept and reused, forced
by an environment variable; a forced slow kernel never changes a score (NASWOT's agreement
product, int8 or float32, bit-identical)."""

from __future__ import annotations

import json
import time

import pytest

import bpe.probe as probe
from bpe.machine import machine_info, machine_key


@pytest.fixture(autouse=True)
def _fresh_process_choices(monkeypatch):
    monkeypatch.setattr(probe, "_chosen", {})


def test_the_fastest_variant_is_chosen_kept_and_reused():
    calls = {"slow": 0, "fast": 0}

    def slow():
        calls["slow"] += 1
        time.sleep(0.01)

    def fast():
        calls["fast"] += 1

    assert probe.choose("test-kernel", {"slow": slow, "fast": fast}) == "fast"
    assert calls == {"slow": 1 + probe.PROBE_REPEATS, "fast": 1 + probe.PROBE_REPEATS}
    kept = json.loads(probe.probe_file().read_text())[f"{machine_key()}/test-kernel"]
    assert kept["choice"] == "fast" and kept["machine"]["cpu"] == machine_info()["cpu"]
    assert kept["seconds"]["slow"] > kept["seconds"]["fast"]
    probe._chosen.clear()  # another process on this machine: read from the file, nothing timed
    assert probe.choose("test-kernel", {"slow": slow, "fast": fast}) == "fast"
    assert calls == {"slow": 1 + probe.PROBE_REPEATS, "fast": 1 + probe.PROBE_REPEATS}


def test_another_machine_measures_again(monkeypatch):
    timed = []
    variants = {"a": lambda: timed.append("a"), "b": lambda: timed.append("b")}
    probe.choose("test-other", variants)
    n = len(timed)
    probe._chosen.clear()
    monkeypatch.setattr(probe, "machine_key", lambda: "another-machine")
    probe.choose("test-other", variants)
    assert len(timed) == 2 * n
    assert len([k for k in json.loads(probe.probe_file().read_text()) if k.endswith("/test-other")]) == 2


def test_a_variable_forces_a_variant_and_a_typo_is_refused(monkeypatch):
    monkeypatch.setenv("BPE_PROBE_TEST_FORCED", "slow")
    assert probe.choose("test-forced", {"slow": lambda: None, "fast": lambda: None}) == "slow"
    monkeypatch.setenv("BPE_PROBE_TEST_FORCED", "slwo")
    with pytest.raises(ValueError, match="choose one of slow, fast"):
        probe.choose("test-forced", {"slow": lambda: None, "fast": lambda: None})


def test_an_unreadable_probe_file_is_measured_again(caplog):
    path = probe.probe_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert probe.choose("test-garbage", {"only": lambda: None}) == "only"
    assert "unreadable" in caplog.text and json.loads(path.read_text())


@pytest.mark.parametrize("forced", ["int8", "float32"])
def test_a_forced_naswot_kernel_never_changes_a_score(forced, monkeypatch):
    """The agreement product by int8 or by float32 gives the same NASWOT scores to the bit."""
    import torch

    from bpe.estimators.zero_cost import agreement_matrix

    from support import tiny

    if not hasattr(torch, "_int_mm"):
        pytest.skip("this torch has no int8 product")
    codes = (torch.rand(64, 3000, generator=torch.Generator().manual_seed(0)) > 0.4).float()
    monkeypatch.setenv("BPE_PROBE_NASWOT_AGREEMENT", forced)
    kernel = agreement_matrix(codes)
    c = codes.double()
    assert torch.equal(kernel, c @ c.T + (1 - c) @ (1 - c).T)
    from bpe.spaces import nb201

    scores = [tiny("naswot").evaluate(str(a)).score for a in nb201.sample(3, 0)]
    monkeypatch.setenv("BPE_PROBE_NASWOT_AGREEMENT", "float32" if forced == "int8" else "int8")
    assert [tiny("naswot").evaluate(str(a)).score for a in nb201.sample(3, 0)] == scores


def test_an_export_measured_on_another_machine_is_recosted_here(tmp_path, capsys):
    """A bpe.json whose proxy setting records another machine is re-estimated here from timed
    steps; both figures are printed, with a warning when they differ by more than 2x. One measured
    on this machine is not."""
    from bpe.cli import main
    from bpe.config import BPEConfig
    from bpe.mip.recost import recost_export

    config = BPEConfig(epochs=1, batch_size=32, channels=2, layers=5, image_size=8, data_fraction=0.3).to_dict()
    other = {"cpu": "AMD EPYC 7B13", "isa": ["avx2", "fma"], "cores": 2, "torch": "2.14.1",
             "torch_cpu_capability": "AVX2", "cuda": None}
    doc = {"kind": "bpe-mip", "estimator": {"family": "proxy", "config": config}, "config": config,
           "measured": {"cost_per_arch": 1000.0, "machine": other}}
    path = tmp_path / "bpe.json"
    path.write_text(json.dumps(doc))
    truth = tmp_path / "ref.json"
    truth.write_text(json.dumps({"epochs": 2, "batch_size": 32, "channels": 2, "layers": 5, "image_size": 8,
                                 "data_fraction": 0.3}))
    argv = ["evaluate", "--estimator", str(path), "--dataset", "digits", "--truth", "reference", "--reference-config",
            str(truth), "--archs", "4", "--out", str(tmp_path / "e.json"), "--quiet", "--noise-archs", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "cost: recorded 1e+03 s/arch on AMD EPYC 7B13; estimated here" in out and "warning:" in out
    recost = json.loads((tmp_path / "e.json").read_text())["recost"]
    assert recost["ratio"] < 0.5 and recost["recorded_machine"]["cpu"] == "AMD EPYC 7B13"
    doc["measured"]["machine"] = machine_info()
    path.write_text(json.dumps(doc))
    from bpe.data import DatasetSpec

    assert recost_export(path, dataset=DatasetSpec("digits"), archs=["x"]) is None


def test_bf16_is_a_knob_value_only_where_this_cpu_runs_it_natively(monkeypatch):
    import bpe.machine as machine
    from bpe.mip.knobs import knob_preset

    base = machine.machine_info()
    monkeypatch.setattr(machine, "machine_info", lambda: {**base, "isa": ["avx2", "fma"], "torch_cpu_capability": "AVX2"})
    assert knob_preset("cpu")["precision"].values == ("fp32",)
    monkeypatch.setattr(machine, "machine_info", lambda: {**base, "isa": ["avx512f", "avx512_bf16"],
                                                          "torch_cpu_capability": "AVX512"})
    assert knob_preset("cpu")["precision"].values == ("fp32", "bf16")
    monkeypatch.setattr(machine, "machine_info", lambda: {**base, "isa": ["avx512f", "amx_bf16"],
                                                          "torch_cpu_capability": "AVX2"})  # restricted: emulated
    assert knob_preset("cpu")["precision"].values == ("fp32",)


def test_the_cpu_layout_is_probed_kept_and_enters_the_cache_key(monkeypatch):
    """Unpinned, the CPU layout is the probe's measured choice (kept in probes.json with both
    timings); it is what a run uses and what its cache key names; forcing the other one changes
    the key, so a record of one layout is never read as the other's."""
    import torch

    from bpe import runtime

    monkeypatch.delenv("BPE_PROBE_CPU_LAYOUT", raising=False)
    chosen = runtime.cpu_layout()
    kept = json.loads(probe.probe_file().read_text())[f"{machine_key()}/cpu-layout"]
    assert set(kept["seconds"]) == {"channels_last", "contiguous"}
    assert runtime.layout_name(chosen) == kept["choice"] == min(kept["seconds"], key=kept["seconds"].get)
    assert runtime.memory_format(torch.device("cpu")) == chosen
    other = "contiguous" if kept["choice"] == "channels_last" else "channels_last"
    keys = {}
    for name in (kept["choice"], other):
        monkeypatch.setenv("BPE_PROBE_CPU_LAYOUT", name)
        keys[name] = runtime.layout_key("cpu")
    assert keys[kept["choice"]] != keys[other]


@pytest.mark.slow  # two subprocesses
def test_two_processes_probing_at_once_measure_once_and_agree(tmp_path):
    """A probe is measured under a lock on probes.json: a second process that starts meanwhile waits,
    then reads the first one's choice (no second measurement, never two different choices)."""
    import os
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "import bpe.probe as probe\n"
        "count = []\n"
        "def a():\n    count.append('a'); time.sleep(0.05)\n"
        "def b():\n    count.append('b'); time.sleep(0.02)\n"
        "choice = probe.choose('test-two-processes', {'a': a, 'b': b})\n"
        "print(choice, len(count))\n")
    env = {**os.environ, "BPE_CACHE_DIR": str(tmp_path / "evals")}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [o[0] for o in outs] == ["b", "b"]
    assert sorted(int(o[1]) for o in outs) == [0, 2 * (1 + probe.PROBE_REPEATS)]
