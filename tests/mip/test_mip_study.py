"""A MIP run recorded as an Optuna study (``bpe mip --storage``): one trial per measured
candidate with its knob values as parameters and (rho, cost per arch) as the two objectives,
the rounds' decisions and the export as study attributes; a rerun adds nothing twice; the same
``bpe.json`` with the storage on and off; a bad storage or a study of another run refused
before any work."""

from __future__ import annotations

import json

import optuna
import pytest

from bpe.cli import main
from bpe.mip import job
from bpe.mip.search import MIPSettings
from bpe.outputs import run_provenance

from support import write_records

FAST = MIPSettings(per_round=3, skip_over_cap=False, forest_seeds=2, rounds=3, importance="mdi")


def mip_tabular(**kwargs):
    """The job, its report's ``bpe.json`` document and paths (the typed fields are checked below)."""
    report, paths = job.mip_tabular(**kwargs)
    assert report.document["measured"] is None or report.chosen.name == report.document["measured"]["name"]
    assert list(report.pruning_order) == [r["pruned"] for r in report.document["rounds"] if r.get("pruned")]
    return report.document, paths


def trials(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage).trials


def without_provenance(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for key in ("study", *run_provenance()):
        doc["measured"].pop(key, None)
    return doc


def test_every_measured_setting_is_a_trial_of_a_two_objective_study(tmp_path):
    folder = tmp_path / "records"
    write_records(folder, n_settings=12, n_archs=20)
    doc, _ = mip_tabular(folder=folder, settings=FAST, out=tmp_path / "a" / "bpe.json", plot=False)
    where = doc["measured"]["study"]
    assert where["storage"] == f"sqlite:///{(tmp_path / 'a' / 'bpe.db').resolve()}"  # beside bpe.json by default
    study = optuna.load_study(study_name=where["study_name"], storage=where["storage"])
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["spearman", "cost_per_arch"]  # the dashboard's axis titles
    got = study.trials
    assert len(got) == len(doc["trajectory"]) >= 6
    for trial, entry in zip(got, doc["trajectory"]):
        assert trial.params == entry["setting"] and trial.user_attrs["name"] == entry["name"]
        assert trial.values == pytest.approx([entry["spearman"], entry["cost_per_arch"]])
        assert trial.user_attrs["round"] == entry["extra"]["round"]
    rounds = {k: v for k, v in study.user_attrs.items() if k.startswith("round_")}
    assert [v["pruned"] for _, v in sorted(rounds.items())] == [r["pruned"] for r in doc["rounds"]]
    assert study.user_attrs["export"]["name"] == doc["measured"]["name"]
    # the dashboard's Pareto front is MIP's frontier: no trial on it is beaten on both rho and cost
    front = {t.number for t in study.best_trials}
    assert front and all(not (u.values[0] >= t.values[0] and u.values[1] < t.values[1])
                         for t in got if t.number in front for u in got)

    # a rerun of the same command reopens the study and adds no trial twice; storage off, same bpe.json
    again, _ = mip_tabular(folder=folder, settings=FAST, out=tmp_path / "a" / "bpe.json", plot=False)
    assert len(trials(where["storage"], where["study_name"])) == len(got)
    off, _ = mip_tabular(folder=folder, settings=FAST, out=tmp_path / "b" / "bpe.json", plot=False, storage="none")
    assert "study" not in off["measured"] and not (tmp_path / "b" / "bpe.db").exists()
    assert without_provenance(off) == without_provenance(doc) == without_provenance(again)


def test_one_storage_holds_several_runs_and_a_named_study_keeps_to_its_run(tmp_path, capsys):
    folder = tmp_path / "records"
    write_records(folder)
    storage = f"sqlite:///{tmp_path / 'team.db'}"
    a, _ = mip_tabular(folder=folder, settings=FAST, out=tmp_path / "a.json", plot=False, storage=storage)
    other = MIPSettings(per_round=2, skip_over_cap=False, forest_seeds=2, rounds=1, importance="mdi")
    b, _ = mip_tabular(folder=folder, settings=other, out=tmp_path / "b.json", plot=False, storage=storage)
    assert a["measured"]["study"]["study_name"] != b["measured"]["study"]["study_name"]
    assert len(optuna.get_all_study_summaries(storage)) == 2
    argv = ["mip", "--tabular", str(folder), "--max-cost", "1", "--forest-seeds", "2", "--rounds", "1",
            "--importance", "mdi", "--storage", storage, "--study-name", a["measured"]["study"]["study_name"],
            "--out", str(tmp_path / "c.json"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bpe: error:") and "holds another MIP run" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("storage, says", [
    ("sqlite:////nonexistent-folder-bpe/x.db", "cannot open the Optuna storage"),
    ("nosuchdriver://host/db", "cannot open the Optuna storage"),
])
def test_a_storage_that_cannot_be_opened_is_refused_before_any_work(tmp_path, capsys, storage, says):
    folder = tmp_path / "records"
    write_records(folder)
    out = tmp_path / "bpe.json"
    assert main(["mip", "--tabular", str(folder), "--storage", storage, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_storage_failing_mid_run_ends_the_recording_not_the_run(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "records"
    write_records(folder)
    calls = {"n": 0}
    real = optuna.study.Study.add_trial

    def flaky(self, trial):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database is locked\nbackground detail")
        return real(self, trial)

    monkeypatch.setattr(optuna.study.Study, "add_trial", flaky)
    doc, paths = mip_tabular(folder=folder, settings=FAST, out=tmp_path / "odd?dir%41" / "bpe.json", plot=False)
    assert paths[0].exists() and doc["measured"] is not None
    assert "could not write" in caplog.text and "database is locked" in caplog.text
    where = doc["measured"]["study"]
    assert (tmp_path / "odd?dir%41" / "bpe.db").exists()  # the default URL escapes the path
    assert len(trials(where["storage"], where["study_name"])) == 2  # recorded until it failed, then not


def test_numpy_numbers_make_a_complete_trial(tmp_path):
    import numpy as np

    from bpe.mip.evaluators import SettingResult
    from bpe.mip.knobs import KnobGrid, KnobSpace
    from bpe.mip.study import MIPStudy

    study = MIPStudy(f"sqlite:///{tmp_path / 's.db'}", KnobSpace([KnobGrid("epochs", (1, 2))]), identity="x")
    result = SettingResult({"epochs": 2}, np.float32(0.5), 0.4, [0.1, 0.8], [0.0, 0.6], np.float64(2.0), 10, 10,
                           name="s")
    assert study.record(result) and not study.record(result)
    (trial,) = study.study.trials
    assert trial.state.name == "COMPLETE" and trial.values == pytest.approx([0.5, 2.0]) and trial.params == {"epochs": 2}


def test_recall_reads_each_readout_back_as_a_copy_and_a_failing_storage_is_no_recall(tmp_path, monkeypatch):
    """A study gives back a setting's results by identity, rung and readout (in the order asked,
    each a fresh copy), nothing when one is missing; a storage that fails on a read ends the
    recording, not the run."""
    from bpe.mip.evaluators import SettingResult
    from bpe.mip.knobs import KnobGrid, KnobSpace
    from bpe.mip.study import MIPStudy

    knobs = KnobSpace([KnobGrid("epochs", (1, 2)), KnobGrid("report", ("valid_accuracy", "tse"), "none", "categorical")])
    study = MIPStudy(f"sqlite:///{tmp_path / 's.db'}", knobs, identity="x")
    made = {}
    for report, rho in (("valid_accuracy", 0.5), ("tse", float("nan"))):
        made[report] = SettingResult({"epochs": 2, "report": report}, rho, 0.4, [0.1, 0.8], [0.0, 0.6], 2.0, 10, 10,
                                     name=f"e2 {report}", extra={"rungs": [{"n_archs": 5}]}, scores=[1.0, None])
        assert study.record(made[report], identity=(("epochs", 2),))
    got = study.recall((("epochs", 2),), None, [{"report": "tse"}, {"report": "valid_accuracy"}])
    assert [r.name for r in got] == ["e2 tse", "e2 valid_accuracy"]
    assert got[1] == made["valid_accuracy"] and got[0].spearman != got[0].spearman  # nan back from JSON's null
    got[1].extra["rungs"].append("mutated")
    assert study.recall((("epochs", 2),), None, [{"report": "valid_accuracy"}])[0] == made["valid_accuracy"]
    assert study.recall((("epochs", 1),), None, [{}]) is None  # never measured
    assert study.recall((("epochs", 2),), 0, [{"report": "tse"}]) is None  # another rung
    study.remember("first arch of x", 1.25)
    assert study.remembered("first arch of x") == 1.25 and study.remembered("first arch of y") is None

    def locked(self):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(optuna.study.Study, "user_attrs", property(locked))
    assert study.remembered("first arch of x") is None and study.broken
    assert study.recall((("epochs", 2),), None, [{"report": "tse"}]) is None


def test_a_run_reads_back_only_what_its_own_machine_measured(tmp_path, caplog):
    """Costs are seconds of one machine: a study shared by two machines gives each its own trials
    and timings (another machine's are measured again, and added beside), and says which machine
    each key stands for."""
    from bpe.mip.evaluators import SettingResult
    from bpe.mip.knobs import KnobGrid, KnobSpace
    from bpe.mip.study import MIPStudy

    knobs, url = KnobSpace([KnobGrid("epochs", (1, 2))]), f"sqlite:///{tmp_path / 's.db'}"
    ours = MIPStudy(url, knobs, identity="x", machine="aaaa")
    result = SettingResult({"epochs": 2}, 0.5, 0.4, [0.1, 0.8], [0.0, 0.6], 2.0, 10, 10, name="e2")
    assert ours.record(result, identity=(("epochs", 2),))
    ours.remember("first arch of e2", 1.25)
    theirs = MIPStudy(url, knobs, identity="x", machine="bbbb")
    with caplog.at_level("WARNING"):
        assert theirs.recall((("epochs", 2),), None, []) is None
    assert "another machine" in caplog.text
    assert theirs.remembered("first arch of e2") is None
    slower = SettingResult({"epochs": 2}, 0.5, 0.4, [0.1, 0.8], [0.0, 0.6], 6.0, 10, 10, name="e2")
    assert theirs.record(slower, identity=(("epochs", 2),)) and not theirs.record(slower)
    theirs.remember("first arch of e2", 3.75)
    assert theirs.recall((("epochs", 2),), None, [])[0].cost_per_arch == 6.0
    again = MIPStudy(url, knobs, identity="x", machine="aaaa")
    assert again.recall((("epochs", 2),), None, [])[0].cost_per_arch == 2.0
    assert again.remembered("first arch of e2") == 1.25 and theirs.remembered("first arch of e2") == 3.75
    trials = again.study.trials
    assert len(trials) == 2 and {t.user_attrs["machine"] for t in trials} == {"aaaa", "bbbb"}
    assert {"machine_aaaa", "machine_bbbb"} <= set(again.study.user_attrs)
    assert again.study.user_attrs["machine_aaaa"]["cores"] >= 1


@pytest.mark.slow  # three tabular MIP runs
def test_a_tabular_run_reads_its_records_not_its_study(tmp_path):
    """Records changed at the same path: a rerun with the same storage ranks the new records (a
    lookup costs nothing, so only a live run resumes from its study)."""
    folder = tmp_path / "records"
    one_round = MIPSettings(per_round=2, skip_over_cap=False, forest_seeds=2, rounds=1, importance="mdi")
    write_records(folder, n_settings=6, n_archs=12, seed=0)
    first, _ = mip_tabular(folder=folder, settings=one_round, out=tmp_path / "bpe.json", plot=False)
    write_records(folder, n_settings=6, n_archs=12, seed=5)
    again, _ = mip_tabular(folder=folder, settings=one_round, out=tmp_path / "bpe.json", plot=False)
    fresh, _ = mip_tabular(folder=folder, settings=one_round, out=tmp_path / "c.json", plot=False, storage="none")
    assert [t["spearman"] for t in again["trajectory"]] == [t["spearman"] for t in fresh["trajectory"]]
    assert [t["spearman"] for t in again["trajectory"]] != [t["spearman"] for t in first["trajectory"]]
    assert again["measured"]["study"] != first["measured"]["study"]  # new records: another run, another study


def test_a_run_refused_before_its_first_trial_leaves_no_database(tmp_path):
    from bpe.errors import BPEError

    folder = tmp_path / "records"
    write_records(folder)
    refused = MIPSettings(per_round=3, skip_over_cap=False, forest_seeds=2, budget=1)  # cannot pay one round
    with pytest.raises(BPEError, match="budget"):
        mip_tabular(folder=folder, settings=refused, out=tmp_path / "bpe.json", plot=False)
    assert not (tmp_path / "bpe.db").exists() and not (tmp_path / "bpe.json").exists()
    storage = f"sqlite:///{tmp_path / 'team.db'}"  # a shared database the run did not create stays
    mip_tabular(folder=folder, settings=FAST, out=tmp_path / "a.json", plot=False, storage=storage)
    with pytest.raises(BPEError, match="budget"):
        mip_tabular(folder=folder, settings=refused, out=tmp_path / "b.json", plot=False, storage=storage)
    assert (tmp_path / "team.db").exists() and len(optuna.get_all_study_summaries(storage)) == 1


def test_ped_anova_rounds_match_the_dashboards_importance_of_the_study(tmp_path):
    """``--importance ped-anova``: each round's importances are what optuna-dashboard computes
    (PED-ANOVA, normalised) on the run's study as it stood at that round."""
    import dataclasses
    import warnings

    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    folder = tmp_path / "records"
    write_records(folder, n_settings=24)
    settings = dataclasses.replace(FAST, importance="ped-anova")
    doc, _ = mip_tabular(folder=folder, settings=settings, out=tmp_path / "bpe.json", plot=False)
    where = doc["measured"]["study"]
    study = optuna.load_study(study_name=where["study_name"], storage=where["storage"])
    checked = 0
    for entry in doc["rounds"]:
        if not entry.get("importances") or entry.get("pruned") is None:
            continue
        so_far = optuna.create_study(direction="maximize")
        so_far.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=t.values[0])
                           for t in study.trials if t.user_attrs["round"] <= entry["round"]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shown = get_param_importances(so_far, target=lambda t: -t.value, evaluator=PedAnovaImportanceEvaluator())
        for knob, value in entry["importances"].items():
            assert value == pytest.approx(shown.get(knob, 0.0), abs=1e-9), (entry["round"], knob)
        checked += 1
    assert checked >= 1


@pytest.mark.slow  # two live MIP runs each
@pytest.mark.parametrize("extra, archs", [((), 6), (("--halving", "5", "--max-seconds-per-arch", "60"), 10)],
                         ids=["rounds", "halving and a cap"])
def test_a_run_resumes_from_the_storage_without_its_evaluation_cache(tmp_path, extra, archs):
    """The same inputs sharing only the storage (a fresh cache, the same machine): every setting
    the study holds is read back, not trained again (promotions, the cost model's first point and
    the cap's first-arch probes included), and the run retraces the same trajectory."""
    from support import mip_argv, record_files

    storage = f"sqlite:///{tmp_path / 'team.db'}"
    first, second = tmp_path / "a" / "bpe.json", tmp_path / "b" / "bpe.json"
    assert main(mip_argv(tmp_path, first, tmp_path / "cache-a", "--storage", storage, *extra, archs=archs)) == 0
    trained = len(record_files(tmp_path / "cache-a"))
    assert main(mip_argv(tmp_path, second, tmp_path / "cache-b", "--storage", storage, *extra, archs=archs)) == 0
    assert len(record_files(tmp_path / "cache-b")) == archs < trained  # the reference truth's archs, nothing else
    da, db = json.loads(first.read_text()), json.loads(second.read_text())
    assert db["trajectory"] == da["trajectory"] and db["rounds"] == da["rounds"]
    assert db["mip"]["halving"] == da["mip"]["halving"] and db["estimator"] == da["estimator"]
    assert db["measured"]["study"] == da["measured"]["study"]  # one study: the second run added nothing
    where = da["measured"]["study"]
    study = optuna.load_study(study_name=where["study_name"], storage=where["storage"])
    assert len(study.trials) == len(da["trajectory"]) + sum(len(e.get("rungs", [])) - 1 for e in (
        t["extra"] for t in da["trajectory"]) if e.get("rungs"))
