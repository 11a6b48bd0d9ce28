"""Live MIP through the CLI on the embedded digits data with tiny knob grids: the exported
``bpe.json`` round-trips into ``bpe evaluate`` and ``bpe search``; a run killed with SIGKILL
resumes to the same trajectory without retraining what was finished; bad input exits 2 with
one line before any training and touches no earlier result."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bpe.cli import main
from bpe.config import REPORT_FIELDS, BPEConfig
from bpe.estimators.proxy import training_key
from bpe.spaces import nb201

from support import TINY_KNOBS, TINY_REFERENCE, mip_argv, record_files, write


def study_trials(doc: dict) -> list[tuple]:
    """(key, rho, params) of every trial of the Optuna study a run recorded itself in."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    where = doc["measured"]["study"]
    study = optuna.load_study(study_name=where["study_name"], storage=where["storage"])
    return [(t.user_attrs["key"], t.values[0] if t.values else None, t.params) for t in study.trials]


def trajectory(doc: dict) -> list[tuple]:
    return [(json.dumps(t["setting"], sort_keys=True), t["spearman"], t["cost_per_arch"]) for t in doc["trajectory"]]


def test_live_mip_exports_a_file_that_evaluate_and_search_take(tmp_path, capsys):
    out = tmp_path / "res" / "bpe.json"
    assert main(mip_argv(tmp_path, out, tmp_path / "c")) == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "bpe-mip"
    assert {"spearman", "kendall", "cost_per_arch", "spearman_ci95", "archs", "metric", "dataset", "device",
            "date", "bpe_version"} <= set(doc["measured"])
    assert doc["measured"]["cost_unit"] == "seconds" and doc["measured"]["cost_per_arch"] > 0
    pruned = [r["pruned"] for r in doc["rounds"] if r.get("pruned")]
    assert pruned and len(pruned) == len(set(pruned))
    assert all(set(r["importances"]) == set(r["free"]) for r in doc["rounds"] if r.get("pruned"))
    # every report variant of a training comes from the same run: same cost, four results per training
    by_training: dict[str, set] = {}
    for t in doc["trajectory"]:
        key = json.dumps({k: v for k, v in t["setting"].items() if k != "report"}, sort_keys=True)
        by_training.setdefault(key, set()).add(t["cost_per_arch"])
    assert all(len(costs) == 1 for costs in by_training.values())
    assert len(doc["trajectory"]) > len(by_training)
    assert (tmp_path / "res" / "bpe_importance.png").stat().st_size > 1000
    assert (tmp_path / "res" / "bpe_frontier.png").stat().st_size > 1000
    chosen = max((t for t in doc["trajectory"] if t["spearman"] is not None), key=lambda t: t["spearman"])
    assert doc["measured"]["spearman"] == pytest.approx(chosen["spearman"])
    assert doc["config"]["report"] == chosen["setting"]["report"]

    ev_out = tmp_path / "ev.json"
    assert main(["evaluate", "--estimator", str(out), "--dataset", "digits", "--truth", "reference",
                 "--reference-config", str(tmp_path / "ref.json"), "--archs", "5", "--seed", "0",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(ev_out), "--quiet", "--no-plot"]) == 0
    ev = json.loads(ev_out.read_text())
    # the same archs (the truth's own sample order differs from `evaluate`'s, so compare as sets)
    if set(r["arch"] for r in ev["records"]) == set(doc["measured"]["archs"]):
        assert ev["spearman"] == pytest.approx(doc["measured"]["spearman"], abs=1e-9)
    # the evaluation's estimator is the exported setting: its training key (NB201 depth as cells per stage)
    assert ev["estimator"]["config"] == training_key(BPEConfig.from_dict(doc["config"]), "nb201")
    assert not set(REPORT_FIELDS) & set(ev["estimator"]["config"])

    se_out = tmp_path / "se.json"
    assert main(["search", "--algo", "random", "--estimator", str(out), "--dataset", "digits", "--budget", "2",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(se_out), "--quiet"]) == 0
    assert json.loads(se_out.read_text())["summary"]


@pytest.mark.slow  # two whole MIP runs compared
def test_same_seed_same_trajectory_and_mdi_option(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(mip_argv(tmp_path, a, tmp_path / "c1", "--importance", "mdi")) == 0
    assert main(mip_argv(tmp_path, b, tmp_path / "c2", "--importance", "mdi")) == 0
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert [r["pruned"] for r in da["rounds"]] == [r["pruned"] for r in db["rounds"]]
    assert [json.dumps(t["setting"], sort_keys=True) for t in da["trajectory"]] == \
        [json.dumps(t["setting"], sort_keys=True) for t in db["trajectory"]]
    assert da["rounds"][0]["importance_method"] == "mdi"


@pytest.mark.slow  # a subprocess killed and rerun
@pytest.mark.parametrize("phase, extra, families, archs, kill_at", [
    ("rounds", (), False, 8, lambda n_total: 8 + 6),
    # successive halving: killed once some settings went on to more archs
    ("rounds with halving", ("--halving", "5"), False, 20, lambda n_total: 20 + 5 * 4 + 5),
    # the families and the confirmation: killed among the last records (the finalists on the
    # confirmation archs) of a run with a learned blend and halving
    ("confirmation", ("--scorers", "params,synflow", "--halving", "5", "--rounds", "2"), True, 20,
     lambda n_total: n_total - 3),
])
def test_sigkill_mid_run_then_rerun_gives_the_same_result(tmp_path, phase, extra, families, archs, kill_at):
    """Kill a live MIP run at one phase; the rerun retrains nothing finished and reproduces the
    uninterrupted run's trajectory (promotions included), candidates and choice."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    clean = tmp_path / "clean.json"
    argv_clean = [sys.executable, "-m", "bpe.cli", *mip_argv(tmp_path, clean, tmp_path / "c-clean", *extra, archs=archs,
                                                              families=families), "--jobs", "1"]
    t0 = time.monotonic()
    assert subprocess.run(argv_clean, env=env, capture_output=True, text=True, timeout=600).returncode == 0
    clean_seconds = time.monotonic() - t0
    n_total = len(record_files(tmp_path / "c-clean"))

    cache = tmp_path / "c"
    out = tmp_path / "killed.json"
    argv = [sys.executable, "-m", "bpe.cli", *mip_argv(tmp_path, out, cache, *extra, archs=archs, families=families),
            "--jobs", "1"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:  # past the reference trainings and into the phase
            n = len(record_files(cache))
            if n >= kill_at(n_total):
                os.kill(proc.pid, signal.SIGKILL)
                break
            assert proc.poll() is None, f"the run ended with {n} of {n_total} records before the kill"
            assert time.monotonic() < deadline, "no kill window"
            time.sleep(0.01)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = record_files(cache)
    assert len(done) < n_total, "nothing left to resume"
    assert not out.exists()
    before = {p: p.stat().st_mtime_ns for p in done}
    t0 = time.monotonic()
    assert subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600).returncode == 0
    resumed_seconds = time.monotonic() - t0
    assert {p: p.stat().st_mtime_ns for p in before} == before, "finished trainings were recomputed"
    assert len(record_files(cache)) == n_total
    da, db = json.loads(clean.read_text()), json.loads(out.read_text())
    assert trajectory(da)[: len(trajectory(db))] and [t[0] for t in trajectory(da)] == [t[0] for t in trajectory(db)]
    assert [t[1] for t in trajectory(da)] == pytest.approx([t[1] for t in trajectory(db)], abs=1e-12)
    assert [r["pruned"] for r in da["rounds"]] == [r["pruned"] for r in db["rounds"]]
    assert da["mip"]["halving"] == db["mip"]["halving"]
    assert da["estimator"] == db["estimator"] and da["config"] == db["config"]
    if families:  # the same finalists, confirmation rhos and decision (a data-free scorer's seconds are not cached)
        def decided(doc):
            c = doc["confirmation"]
            return ([(f["family"], f["name"], f["confirmation_spearman"]) for f in c["finalists"]], c["chosen"],
                    [(x["dearer"], x["kept"], x["difference"], x["replaces"]) for x in c["comparisons"]])
        assert decided(da) == decided(db)
    # the Optuna study beside each bpe.json: the killed run's, completed by its rerun, holds the
    # uninterrupted run's trials in the same order (a data-free scorer's seconds are not cached)
    assert study_trials(da) == study_trials(db) and len(study_trials(da)) >= len(da["trajectory"])
    print(f"{phase}: uninterrupted {clean_seconds:.1f} s; resumed rerun {resumed_seconds:.1f} s "
          f"({len(done)} of {n_total} trainings read back)")


# -- bad input ------------------------------------------------------------------------------
def run_cli(argv: list[str], tmp: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``bpe ARGV``, in this process (the exit code of a real
    subprocess is tested in tests/cli/test_cli_bad_input.py; here a fresh interpreter per call would
    only add torch's import time)."""
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.get("BPE_CACHE_DIR")
    os.environ["BPE_CACHE_DIR"] = str(tmp / "default-cache")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        if saved is None:
            os.environ.pop("BPE_CACHE_DIR", None)
        else:
            os.environ["BPE_CACHE_DIR"] = saved
    return code, out.getvalue(), err.getvalue()


def one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpe: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def tabular_folder(tmp: Path, n_archs: int = 6) -> Path:
    folder = tmp / "records"
    folder.mkdir()
    names = ["s1", "s2", "s3"]
    (folder / "settings.csv").write_text(
        "setting,epochs,batch_size,learning_rate,layers,float_bits,channels,cutout_length,image_size,gpu_hours_per_net\n"
        + "\n".join(f"{n},{10 * (i + 1)},128,0.03,{6 + 2 * i},32,8,0,16,{0.1 * (i + 1)}" for i, n in enumerate(names)))
    rng = np.random.default_rng(0)
    (folder / "accuracies.csv").write_text("arch_id," + ",".join(names) + "\n" + "\n".join(
        f"{a}," + ",".join(f"{rng.uniform(50, 90):.2f}" for _ in names) for a in range(n_archs)))
    (folder / "ground_truth.csv").write_text("arch_id,accuracy,genotype\n" + "\n".join(
        f"{a},{rng.uniform(96, 97.5):.2f},g" for a in range(n_archs)))
    return folder


@pytest.fixture
def sentinel(tmp_path):
    out = tmp_path / "bpe.json"
    out.write_text('{"sentinel": 1}\n')
    return out


@pytest.mark.parametrize("knobs, needles", [
    ({"epoch": [1, 2]}, ["unknown knob 'epoch'", "did you mean 'epochs'"]),
    ({"precision": ["fp32", "fp8"]}, ["precision", "fp8"]),
    ({"epochs": [2, 2000]}, ["epochs", "1..1000"]),
    ({"epochs": []}, ["epochs", "empty grid"]),
    ({"seed": [0, 1]}, ["seed is never a knob"]),
])
def test_bad_knobs_exit_2(tmp_path, sentinel, knobs, needles):
    argv = mip_argv(tmp_path, sentinel, tmp_path / "c")
    argv[argv.index("--knobs") + 1] = write(tmp_path / "bad.json", knobs)
    code, _, err = run_cli(argv, tmp_path)
    one_line(code, err, *needles)
    assert sentinel.read_text() == '{"sentinel": 1}\n'
    assert not record_files(tmp_path / "c")


def test_cap_below_cheapest_setting_and_tiny_budget(tmp_path, sentinel):
    code, _, err = run_cli(mip_argv(tmp_path, sentinel, tmp_path / "c", "--max-seconds-per-arch", "0.0001"), tmp_path)
    one_line(code, err, "below the cheapest setting", "--max-seconds-per-arch")
    code, _, err = run_cli(mip_argv(tmp_path, sentinel, tmp_path / "c", "--budget", "0.001s"), tmp_path)
    one_line(code, err, "too small for one round", "--budget")
    code, _, err = run_cli(mip_argv(tmp_path, sentinel, tmp_path / "c", "--budget", "lots"), tmp_path)
    one_line(code, err, "budget")
    assert sentinel.read_text() == '{"sentinel": 1}\n'


def test_truth_with_fewer_archs_than_requested(tmp_path, sentinel):
    truth = tmp_path / "t.csv"
    truth.write_text("arch_str,acc\n" + "\n".join(f"{a},{50 + i}" for i, a in enumerate(nb201.sample(5, 0))))
    argv = mip_argv(tmp_path, sentinel, tmp_path / "c", archs=10)
    argv[argv.index("--truth") + 1] = str(truth)
    code, _, err = run_cli([*argv, "--metric", "acc"], tmp_path)
    one_line(code, err, "--archs 10", "5 archs")
    assert not record_files(tmp_path / "c")


@pytest.mark.parametrize("damage, needles", [
    ("missing", ["lacks accuracies.csv"]),
    ("mismatch", ["list different architectures"]),
    ("setting", ["no column for setting"]),
    ("corrupt", ["cannot read"]),
])
def test_bad_tabular_folder(tmp_path, sentinel, damage, needles):
    folder = tabular_folder(tmp_path)
    if damage == "missing":
        (folder / "accuracies.csv").unlink()
    elif damage == "mismatch":
        text = (folder / "ground_truth.csv").read_text().replace("\n5,", "\n7,")
        (folder / "ground_truth.csv").write_text(text)
    elif damage == "setting":
        (folder / "settings.csv").write_text((folder / "settings.csv").read_text().replace("s3,", "s9,"))
    else:
        (folder / "accuracies.csv").write_bytes(b"\x00\xff\xfe garbage \"unclosed\n1,2,3,4,5\n")
    code, _, err = run_cli(["mip", "--tabular", str(folder), "--out", str(sentinel)], tmp_path)
    one_line(code, err, *needles)
    assert sentinel.read_text() == '{"sentinel": 1}\n'


def test_tabular_cap_below_cheapest_and_wrong_cap_flag(tmp_path, sentinel):
    folder = tabular_folder(tmp_path)
    code, _, err = run_cli(["mip", "--tabular", str(folder), "--max-cost", "0.01", "--out", str(sentinel)], tmp_path)
    one_line(code, err, "below the cheapest recorded setting")
    code, _, err = run_cli(["mip", "--tabular", str(folder), "--max-seconds-per-arch", "5", "--out", str(sentinel)],
                           tmp_path)
    one_line(code, err, "--max-cost")
    assert sentinel.read_text() == '{"sentinel": 1}\n'


@pytest.mark.slow  # a live MIP run with hybrids (their scores: tests/estimators/test_hybrid_blend.py)
def test_hybrid_knob_is_read_off_the_same_trainings_and_a_baseline_is_compared(tmp_path, capsys):
    """``hybrid`` is a derived knob (every value from one training per setting); a hybrid's rho is
    the rank-average of the proxy's score and MeCo's, and it exports as their blend, which scores
    the archs as the run did; ``--baseline meco`` is measured first and the chosen setting is
    judged against it."""
    from bpe.cache import EvalCache
    from bpe.data import DatasetSpec
    from bpe.estimators import estimator_from_spec
    from bpe.estimators.vote import rank_average
    from bpe.metrics import rank_summary
    from bpe.mip.evaluators import SettingResult
    from bpe.mip.export import export_spec
    from bpe.parallel import Runner

    knobs = {**TINY_KNOBS, "report": ["valid_accuracy"], "hybrid": {"values": ["none", "meco"], "cost": "none"}}
    out = tmp_path / "bpe.json"
    argv = mip_argv(tmp_path, out, tmp_path / "c", "--baseline", "meco", "--rounds", "1")
    argv[argv.index("--knobs") + 1] = write(tmp_path / "knobs.json", knobs)
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    hybrids = [t for t in doc["trajectory"] if t["setting"]["hybrid"] == "meco"]
    plain = {json.dumps({k: v for k, v in t["setting"].items() if k != "hybrid"}, sort_keys=True): t
             for t in doc["trajectory"] if t["setting"]["hybrid"] == "none"}
    assert hybrids and len(hybrids) == len(plain)
    archs = doc["measured"]["archs"]
    meco = estimator_from_spec("meco", dataset=DatasetSpec("digits"), device="cpu")
    meco_scores = [meco.evaluate(a).score for a in archs]
    truths = [r["truth"] for r in _records(tmp_path, archs)]
    for h in hybrids[:1]:
        p = plain[json.dumps({k: v for k, v in h["setting"].items() if k != "hybrid"}, sort_keys=True)]
        proxy = estimator_from_spec(write(tmp_path / "p.json", p["config"]), dataset=DatasetSpec("digits"),
                                    device="cpu")
        scores = rank_average([[proxy.evaluate(a).score for a in archs], meco_scores])
        assert h["spearman"] == pytest.approx(rank_summary(scores, truths)["spearman"])
        assert h["cost_per_arch"] > p["cost_per_arch"]  # the scorer's seconds are added
        # a hybrid is a blend: the proxy setting (no hybrid field) and the scorer, equal weights, anchored
        assert h["family"] == "blend" and "hybrid" not in h["config"] and h["config"] == p["config"]
        assert h["extra"]["spec"] == {"family": "blend", "members": [{"family": "proxy", "config": p["config"]},
                                                                     {"family": "scorer", "name": "meco",
                                                                      "options": {"channels": 16, "layers": 17}}],
                                      "weights": [1.0, 1.0], "anchored": True}
        assert export_spec(SettingResult(**{k: v for k, v in h.items() if k != "id"})) == h["extra"]["spec"]
        exported = write(tmp_path / "h.json", {"kind": "bpe-mip", "estimator": h["extra"]["spec"], "config": None})
        blend = estimator_from_spec(exported, dataset=DatasetSpec("digits"), device="cpu")
        records = Runner(cache=EvalCache(tmp_path / "c"), progress=False).run(blend, archs)
        assert [r.score if r.ok else None for r in records] == h["scores"]
    b = doc["baseline"]
    assert b["baseline_spearman"] == pytest.approx(rank_summary(meco_scores, truths)["spearman"])
    assert b["worth"] == (doc["measured"]["spearman_ci95"][0] > b["baseline_spearman_ci95"][1])
    assert "baseline" in capsys.readouterr().out


def _records(tmp_path, archs):
    from bpe.config import BPEConfig
    from bpe.data import DatasetSpec
    from bpe.truth import load_truth

    truth = load_truth("reference", dataset=DatasetSpec("digits"), reference_config=BPEConfig.from_dict(TINY_REFERENCE),
                       device="cpu")
    return [{"truth": truth.query(a, truth.check_metric(None))} for a in archs]
