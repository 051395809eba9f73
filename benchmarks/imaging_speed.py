"""Radiomics extraction speed: cold run (serial, 2 workers) and a cached re-run.

Writes a small synthetic cohort (32x32x16 int16 NIfTI images, 1-2 ellipsoid lesions per patient,
the size the synthetic network uses) into a temporary folder and times
:func:`icipredict.features.imaging.extract_cohort` with the default settings.

Usage: ``python benchmarks/imaging_speed.py [n_patients]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from icipredict.features.imaging import extract_cohort
from icipredict.features.radiomics_engine import PyRadiomicsEngine


def _write_cohort(folder: Path, n_patients: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    z, y, x = np.indices((16, 32, 32))
    for p in range(n_patients):
        img = rng.normal(40, 8, (16, 32, 32))
        for lesion in range(1 + p % 2):
            c = rng.uniform([6, 10, 10], [10, 22, 22])
            r = rng.uniform([2, 3, 3], [4, 7, 7])
            inside = (((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2
                      + ((x - c[2]) / r[2]) ** 2) <= 1
            img[inside] += 60 + rng.normal(0, 25, inside.sum())
            mask = sitk.GetImageFromArray(inside.astype(np.uint8))
            mask.SetSpacing((1.0, 1.0, 2.0))
            sitk.WriteImage(mask, str(folder / f"p{p}_l{lesion}_mask.nii.gz"))
            rows.append((f"P{p}", f"L{lesion}", f"p{p}.nii.gz", f"p{p}_l{lesion}_mask.nii.gz"))
        im = sitk.GetImageFromArray(img.astype(np.int16))
        im.SetSpacing((1.0, 1.0, 2.0))
        sitk.WriteImage(im, str(folder / f"p{p}.nii.gz"))
    return pd.DataFrame(rows, columns=["patient_id", "lesion_id", "image_uri", "mask_uri"])


def main(n_patients: int = 40) -> None:
    """Print a timing table."""
    engine = PyRadiomicsEngine("default")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = _write_cohort(folder, n_patients)
        results = []
        for label, n_jobs, cache in (("cold, n_jobs=1", 1, None), ("cold, n_jobs=2", 2, "c"),
                                     ("cached re-run, n_jobs=2", 2, "c")):
            t0 = time.perf_counter()
            feats, errors = extract_cohort(table, base_dir=folder, engine=engine,
                                           cache_dir=folder / cache if cache else None,
                                           n_jobs=n_jobs, progress=False)
            dt = time.perf_counter() - t0
            n_les = feats[["patient_id", "lesion_id"]].drop_duplicates().shape[0]
            results.append((label, n_les, feats["feature"].nunique(), len(errors), dt,
                            1000 * dt / max(n_les, 1)))
    out = pd.DataFrame(results, columns=["run", "lesions", "features", "errors", "seconds",
                                         "ms/lesion"])
    print(f"Radiomics extraction, {n_patients} patients, 32x32x16 NIfTI, default settings")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
