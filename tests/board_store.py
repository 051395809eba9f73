"""Test helper: a small ingested synthetic network for scoring stored patients by ID.

Built once per test process (60 patients, six centres: images, precomputed radiomics tables,
panels and exomes) with a fixed pseudonymisation key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

KEY = b"board-store-test-key-0123456789abcdef"  # 32+ characters
_CACHE: dict[str, dict] = {}


def small_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``{"store": path, "cohort": Cohort, "radiomics": wide (training's own step), "cache"}``."""
    if "net" in _CACHE:
        return _CACHE["net"]
    from icipredict import synthetic
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore, source_content_hash
    from icipredict.features.spec import FeatureSpec
    from icipredict.training.data import cohort_radiomics as _radiomics

    root: Path = tmp_path_factory.mktemp("board-net")
    net = synthetic.generate_network(root / "net", n_patients=60, seed=11, workers=1)
    store = CohortStore(root / "store.duckdb")
    for centre, path in net.sources.items():
        store.ingest(load_source(path, centre=centre), centre=centre,
                     content_hash=source_content_hash(path), source=str(path), key=KEY)
    cohort = store.cohort()
    cache = root / "cache"
    spec = FeatureSpec(name="t", modalities=["clinical", "genomic", "imaging"])
    rad = _radiomics(cohort, spec, cache, False)  # the training runs' radiomics step
    _CACHE["net"] = {"store": store.path, "cohort": cohort, "radiomics": rad, "cache": cache}
    return _CACHE["net"]
