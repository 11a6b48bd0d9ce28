"""``--backend ray`` on a real local Ray cluster gives the same per-arch records as the local
backend, and every worker stores what it measured in the cache.

The Runner starts the cluster itself (``ray.init(num_cpus=jobs)``, no address), runs joblib on
it through ``ray.util.joblib`` and shuts it down afterwards.  Every evaluation uses the same
number of torch threads whatever the backend, so the scores are compared exactly."""

from __future__ import annotations

import os

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed: pip install '.[ray]' (or '.[test]')")

from bpe.cache import EvalCache  # noqa: E402
from bpe.data import DatasetSpec  # noqa: E402
from bpe.estimators import create_estimator  # noqa: E402
from bpe.parallel import Runner  # noqa: E402
from bpe.spaces import nb201  # noqa: E402

pytestmark = pytest.mark.slow  # a real local Ray cluster

N_ARCHS = 4


@pytest.fixture
def restored_environ():
    """Ray may export variables into this process; later tests see the environment as before."""
    saved = os.environ.copy()
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_ray_matches_loky(tmp_path, restored_environ):
    """NASWOT on tiny nets (fast and deterministic, but cached like any costly estimator): the
    same scores on a two-CPU local Ray cluster as in this process (the local backend with one
    job, which loky workers match since every evaluation uses the same thread count; starting
    them too would only add seconds); the cluster is gone afterwards."""
    estimator = create_estimator("naswot", dataset=DatasetSpec("digits"), device="cpu", channels=4,
                                 cells_per_stage=1, image_size=8, batch_size=8)
    assert not estimator.cheap, "a cheap estimator would bypass the cache this test checks"
    archs = [str(a) for a in nb201.sample(N_ARCHS, 0)]
    assert not ray.is_initialized()
    on_ray = Runner(jobs=2, backend="ray", cache=EvalCache(tmp_path / "ray"), progress=False).run(estimator, archs)
    assert not ray.is_initialized(), "the Runner must shut down the Ray cluster it started"
    local = Runner(jobs=1, backend="loky", cache=EvalCache(tmp_path / "local"), progress=False).run(estimator, archs)

    assert [r.arch for r in on_ray] == archs and all(r.ok for r in on_ray)
    assert [r.score for r in on_ray] == [r.score for r in local]
    assert len({r.score for r in on_ray}) > 1, "all scores tied: the nets are too small to rank"
    # The Ray workers wrote every record to the cache, as local runs do.
    fingerprint = estimator.fingerprint()
    assert EvalCache(tmp_path / "ray").count(fingerprint) == EvalCache(tmp_path / "local").count(fingerprint) == N_ARCHS
