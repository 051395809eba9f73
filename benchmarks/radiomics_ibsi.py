"""Radiomics of one lesion per IBSI configuration (A-E), on one core.

The IBSI-1 lung CT phantom (``../shared/data/imaging/ibsi_ct_phantom``, 204 x 201 x 60 voxels) is
placed in a 512 x 512 x 60 CT volume (air, -1000 HU, around it: the size of a clinical series)
and written as NIfTI; each configuration's builtin settings (``ibsi_a`` ... ``ibsi_e``) then
compute the lesion's features through :class:`~icipredict.features.radiomics_engine.
PyRadiomicsEngine` (reading, IBSI processing, pyradiomics). Times are the median of
``--repeats`` runs after one warm-up, with every thread pool limited to one thread.

Columns: ``read`` (image + mask from NIfTI), ``process`` (interpolation, re-segmentation,
discretisation), ``features`` (pyradiomics classes), ``total`` (``engine.extract`` end to end, measured
separately) and its CPU seconds (robust to other processes on a shared machine: read the load
average printed above the table). Goal: total < 2 s per configuration.

Usage: ``python benchmarks/radiomics_ibsi.py [--repeats 3] [--phantom DIR]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from icipredict.config import shared_data  # noqa: E402
from icipredict.features.ibsi.compute import compute_features  # noqa: E402
from icipredict.features.ibsi.processing import process  # noqa: E402
from icipredict.features.radiomics_engine import PyRadiomicsEngine, read_image  # noqa: E402

SIZE = 512


def write_clinical_size(phantom: Path, folder: Path) -> tuple[Path, Path]:
    """The phantom padded with air to 512 x 512 in-plane, as NIfTI image + mask."""
    image = sitk.ReadImage(str(phantom / "image.nii.gz"))
    mask = sitk.ReadImage(str(phantom / "mask.nii.gz"))
    nx, ny, _ = image.GetSize()
    lo = [(SIZE - nx) // 2, (SIZE - ny) // 2, 0]
    hi = [SIZE - nx - lo[0], SIZE - ny - lo[1], 0]
    big = sitk.ConstantPad(sitk.Cast(image, sitk.sitkInt16), lo, hi, -1000)
    big_mask = sitk.ConstantPad(mask, lo, hi, 0)
    paths = folder / "ct_512.nii.gz", folder / "gtv_512.nii.gz"
    sitk.WriteImage(big, str(paths[0]))
    sitk.WriteImage(big_mask, str(paths[1]))
    return paths


def _median_time(fn, repeats: int, cpu: bool = False) -> float:
    """Median wall-clock (or, with ``cpu``, process CPU) seconds of ``fn``."""
    clock = time.process_time if cpu else time.perf_counter
    fn()  # warm-up: imports, pyradiomics class discovery
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def time_configuration(config: str, image: Path, mask: Path, repeats: int) -> dict[str, float]:
    """Seconds per step and end to end for one configuration."""
    engine = PyRadiomicsEngine(f"ibsi_{config.lower()}")
    s = engine.settings
    read = _median_time(lambda: (read_image(image), read_image(mask)), repeats)
    img, msk = read_image(image), read_image(mask)
    array = sitk.GetArrayFromImage(img).astype(np.float64)
    roi = sitk.GetArrayFromImage(msk) == 1
    geometry = (img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    processed = process(array, roi, *geometry, s.processing)
    proc = _median_time(lambda: process(array, roi, *geometry, s.processing), repeats)
    pyr = s.setting.model_dump(exclude_none=True)
    feats = _median_time(lambda: compute_features(processed, dict(s.featureClass), pyr,
                                                  s.processing.aggregation), repeats)
    total = _median_time(lambda: engine.extract(image, mask), repeats)
    cpu = _median_time(lambda: engine.extract(image, mask), repeats, cpu=True)
    return {"read": read, "process": proc, "features": feats, "total": total, "cpu": cpu,
            "voxels": int(processed.morphology.sum())}


def main(argv: list[str] | None = None) -> None:
    """Print the table (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--phantom", type=Path,
                        default=shared_data() / "imaging" / "ibsi_ct_phantom")
    args = parser.parse_args(argv)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        image, mask = write_clinical_size(args.phantom, Path(tmp))
        size = read_image(image).GetSize()
        print(f"CT phantom lesion in a {size[0]} x {size[1]} x {size[2]} volume, one core, "
              f"median of {args.repeats} runs; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} CPUs\n")
        print("| configuration | ROI voxels | read s | process s | features s | total s "
              "| total CPU s |")
        print("|---|---|---|---|---|---|---|")
        for config in "ABCDE":
            r = time_configuration(config, image, mask, args.repeats)
            print(f"| {config} | {r['voxels']} | {r['read']:.2f} | {r['process']:.2f} | "
                  f"{r['features']:.2f} | {r['total']:.2f} | {r['cpu']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
