"""The network: :func:`generate_network` writes every centre, the images and the truth."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.synthetic.brca import add_brca_cases
from icipredict.synthetic.cbioportal import write_cbioportal
from icipredict.synthetic.centres import (
    write_alpenrose,
    write_coastline,
    write_lindenhof,
    write_meridian,
    write_riverside,
)
from icipredict.synthetic.formats import imaging_tasks, observed, scan_stem, yaml_dump
from icipredict.synthetic.images import ImageTask, write_images
from icipredict.synthetic.model import CENTRES, GENERATOR
from icipredict.synthetic.mutations import simulate_mutations
from icipredict.synthetic.patients import simulate_patients
from icipredict.synthetic.truth import TRUTH_COLUMNS, truth_doc

log = logging.getLogger(__name__)


@dataclass
class Network:
    """What :func:`generate_network` wrote."""

    out: Path
    sources: dict[str, Path]        # centre -> path to pass to load_source
    n_patients: int
    n_imaged: int
    n_variants: int


def generate_network(out: str | Path, n_patients: int = 600, seed: int = 7,
                     workers: int = 1, first_id: int = 0, untreated: int = 0) -> Network:
    """Write the synthetic six-centre network to ``out``.

    Parameters
    ----------
    out
        Output folder (created; existing files of the same names are overwritten).
    n_patients
        Patients across all centres.
    seed
        Random seed: the same seed gives byte-identical files.
    workers
        Processes used to write images (the output does not depend on it).
    first_id
        First running number of each centre's source IDs: give a later export of new patients
        a number past the earlier export's, so no source ID means two people.
    untreated
        Patients of an untreated (no ICI) arm, written as the extra centre ``lakeside`` from an
        independent random stream (:mod:`icipredict.synthetic.untreated`); 0 writes none, and
        the treated centres are the same either way.

    Returns
    -------
    Network
        Paths of the centres' sources and counts.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    truth = simulate_patients(n_patients, seed, first_id)
    maf = simulate_mutations(truth, seed)
    brca = add_brca_cases(truth, maf, seed)  # its own random stream: other draws do not move
    maf = brca.maf
    obs = observed(truth)
    writers = {"harbour": write_cbioportal, "lindenhof": write_lindenhof,
               "riverside": write_riverside, "coastline": write_coastline,
               "meridian": write_meridian}
    sources: dict[str, Path] = {}
    tasks: list[ImageTask] = []
    for spec in CENTRES:
        folder = out / spec.name
        folder.mkdir(exist_ok=True)
        sel = (obs["centre"] == spec.name).to_numpy()
        c_obs = obs.loc[sel].reset_index(drop=True)
        c_maf = maf.loc[maf["centre"] == spec.name]
        if spec.name == "alpenrose":
            rel = write_alpenrose(folder, c_obs, c_maf, seed)
        elif spec.name == "harbour":
            rel = write_cbioportal(folder, c_obs, c_maf, brca.cna)
        else:
            rel = writers[spec.name](folder, c_obs, c_maf)
        if spec.imaging == "nifti":
            (folder / "images").mkdir(exist_ok=True)
            tasks.extend(imaging_tasks(c_obs, seed, folder))
        sources[spec.name] = folder / rel if rel != "." else folder
        log.info("wrote centre %s (%d patients)", spec.name, int(sel.sum()))
    write_images(tasks, workers=workers)

    truth["image_stem"] = np.where(truth["n_lesions"] > 0,
                                   truth["within_index"].map(scan_stem), None)
    truth_out = truth[TRUTH_COLUMNS + [c for c in truth.columns if c.startswith("mut_")]
                      + [c for c in truth.columns if c.startswith("drv_")]].copy()
    truth_out.to_parquet(out / "truth.parquet", index=False)
    brca.truth.to_parquet(out / "brca_truth.parquet", index=False)
    doc = truth_doc(n_patients, seed, brca.truth)
    if untreated:
        from icipredict.synthetic.untreated import CENTRE, write_untreated

        sources[CENTRE], doc["untreated_arm"] = write_untreated(out, untreated, seed)
    yaml_dump(out / "truth.yaml", doc)
    yaml_dump(out / "network.yaml", network_doc(out, sources, truth, n_patients, seed))
    return Network(out, sources, n_patients, len(tasks), len(maf))


def network_doc(out: Path, sources: dict[str, Path], truth: pd.DataFrame, n: int,
                seed: int) -> dict:
    """The ``network.yaml`` document: each centre's format, source path, counts and quirks."""
    centres = []
    for spec in CENTRES:
        t = truth[truth["centre"] == spec.name]
        centres.append({
            "name": spec.name,
            "format": spec.fmt,
            "source": sources[spec.name].relative_to(out).as_posix(),
            "patients": len(t),
            "sequenced": int(t["sequenced"].sum()),
            "panels": sorted(spec.panels),
            "imaging": spec.imaging or "none",
            "imaged_patients": int((t["n_lesions"] > 0).sum()),
            "quirks": list(spec.quirks),
        })
    return {
        "name": "icipredict synthetic network",
        "generator": GENERATOR,
        "seed": seed, "patients": n,
        "usage": "pass <this folder>/<centre.source> to icipredict.cohort.loaders.load_source "
                 "(a cBioPortal study folder or a column-map YAML); relative paths inside a "
                 "centre (data files, image/mask/radiomics URIs) are relative to the folder "
                 "holding the column map or the study.",
        "centres": centres,
        "truth": {"patients": "truth.parquet", "model": "truth.yaml",
                  "brca_registry": "brca_truth.parquet"},
    }
