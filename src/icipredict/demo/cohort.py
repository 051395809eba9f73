"""Demo steps 1-3: generate the network, ingest it into the store, build the feature matrix."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import yaml

from icipredict.cohort.brca import registry_from_store
from icipredict.cohort.loaders import load_source
from icipredict.cohort.schema import Cohort, CohortError
from icipredict.cohort.store import CohortStore, source_content_hash
from icipredict.demo.context import DEMO_PSEUDONYM_KEY, DemoContext
from icipredict.synthetic import Network, generate_network

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ 1-2 cohort
def step_generate(ctx: DemoContext) -> str:
    """Generate the six-centre network in the centres' own formats."""
    ctx.network = generate_network(ctx.network_dir, n_patients=ctx.n_patients, seed=ctx.seed,
                                   workers=2)
    net = ctx.network
    return (f"{net.n_patients} patients in {len(net.sources)} centres, {net.n_imaged} lesion "
            f"images, {net.n_variants} MAF rows -> {ctx.network_dir}")


def harmonisation_table(network_dir: Path) -> pd.DataFrame:
    """What harmonisation each centre needed, read from ``network.yaml`` and its column maps.

    Returns
    -------
    DataFrame
        One row per centre: ``centre, format, assay, conversions`` (unit conversions, event and
        vocabulary recodings, derived values, "not profiled" genes), the human-readable list of
        what the loaders did to reach the cohort contract.
    """
    from icipredict.cohort import harmonise as hz

    doc = yaml.safe_load((network_dir / "network.yaml").read_text(encoding="utf-8"))
    rows = []
    for c in doc["centres"]:
        source = network_dir / c["source"]
        done: list[str] = []
        if source.is_dir():  # cBioPortal study folder
            done += ["cBioPortal OS_STATUS/PFS_STATUS '1:DECEASED'/'1:PROGRESSED' -> event flags",
                     "panel per sample from the gene-panel matrix"]
        else:
            cmap = yaml.safe_load(source.read_text(encoding="utf-8"))
            mapped: set[str] = set()
            for f in cmap.get("files", []):
                for canon, spec in (f.get("columns") or {}).items():
                    mapped.add(canon)
                    if not isinstance(spec, dict):
                        continue
                    unit = spec.get("unit")
                    if unit:
                        try:
                            factor = hz.unit_factor(canon, unit)
                        except CohortError:
                            factor = 1.0
                        if abs(factor - 1.0) > 1e-9:
                            done.append(f"{canon}: {unit} x {factor:.4g}")
                    if spec.get("event_value") in (0, "0"):
                        done.append(f"{canon}: 1 = censored recoded to 1 = event")
                    if spec.get("values") and canon in ("bor", "responder", "drug_class"):
                        done.append(f"{canon}: {len(spec['values'])} source codes recoded")
            if {"neutrophils", "lymphocytes"} <= mapped and "nlr" not in mapped:
                done.append("NLR derived = neutrophils / lymphocytes")
            if "responder" in mapped and "bor" not in mapped:
                done.append("binary responder only (no RECIST BOR)")
            if "drug_class" in mapped and "drug" not in mapped:
                done.append("drug class only (no drug names)")
        if any("IMPACT341" in q for q in c.get("quirks", [])):
            done.append("genes off IMPACT341 = not profiled (missing, never wild type)")
        if any("not sequenced" in q for q in c.get("quirks", [])):
            done.append("unsequenced patients: genomics missing")
        done.append({"nifti": "TMB recomputed from the MAF / panel Mb; NIfTI lesions",
                     "radiomics": "TMB recomputed from the MAF / exome Mb; precomputed radiomics",
                     "none": "TMB recomputed from the MAF / panel Mb; no imaging"}[c["imaging"]])
        rows.append({"centre": c["name"], "format": c["format"],
                     "assay": ", ".join(c["panels"]), "conversions": "; ".join(done)})
    return pd.DataFrame(rows)


def demo_store(path: Path) -> CohortStore:
    """A demo store under :data:`DEMO_PSEUDONYM_KEY`; one left by an earlier demo under another
    key (the user's, before the demo had its own) is removed, to be rebuilt from the network."""
    from icipredict.cohort.pseudonym import key_fingerprint

    store = CohortStore(path)
    stored = store.key_fingerprint() if path.exists() else None
    if stored is not None and stored != key_fingerprint(DEMO_PSEUDONYM_KEY):
        log.warning("%s was built under another pseudonym key: rebuilt under the demo's key",
                    path)
        for leftover in path.parent.glob(path.name + "*"):  # the database and its lock/wal
            leftover.unlink()
        store = CohortStore(path)
    return store


def ingest_network(network: Network, store: CohortStore) -> list[dict]:
    """Load every centre of ``network`` and store it under the demo key; one row per centre."""
    out = []
    for centre, source in network.sources.items():
        cohort = load_source(source, centre=centre)
        result = store.ingest(cohort, centre=centre, content_hash=source_content_hash(source),
                              source=str(source), key=DEMO_PSEUDONYM_KEY)
        out.append({"centre": centre, "version": result.version, "changed": result.changed,
                    **result.row_counts})
    return out


def step_ingest(ctx: DemoContext) -> str:
    """Validate, harmonise, pseudonymise and store every centre (all-or-nothing each)."""
    assert ctx.network is not None
    store = demo_store(ctx.store_path)
    ctx.ingests = ingest_network(ctx.network, store)
    ctx.harmonisation = harmonisation_table(ctx.network_dir)
    ctx.summary = store.summary()
    ctx.brca = registry_from_store(store).somatic  # classified: K3326* is no carrier
    changed = sum(r["changed"] for r in ctx.ingests)
    carriers = ctx.brca.loc[ctx.brca["classification"].isin(["pathogenic",
                                                             "likely_pathogenic"]), "patient_id"]
    return (f"{len(ctx.ingests)} centres in {ctx.store_path} ({changed} new or changed); "
            f"BRCA1/2 registry: {len(ctx.brca)} somatic variants, {carriers.nunique()} "
            "pathogenic carriers")


# ------------------------------------------------------------------------------ 3 features
def cohort_radiomics(cohort: Cohort, cache_dir: Path) -> tuple[pd.DataFrame | None, int, int]:
    """Wide radiomics (index ``patient_id``): images through the cache plus precomputed tables.

    Returns
    -------
    (wide, cached, computed)
        The matrix (None without imaging) and how many lesions came from the cache / were
        computed now.
    """
    from icipredict.features.imaging import extract_cohort, radiomics_matrix

    parts = [cohort.radiomics] if len(cohort.radiomics) else []
    cached = computed = 0
    images = cohort.imaging
    if len(images):
        cache_dir.mkdir(parents=True, exist_ok=True)
        before = sum(1 for _ in cache_dir.rglob("*.json"))
        long, errors = extract_cohort(images, cache_dir=cache_dir, n_jobs=2, progress=False)
        computed = sum(1 for _ in cache_dir.rglob("*.json")) - before
        n_images = int(images["image_uri"].notna().sum()) if "image_uri" in images else 0
        cached = n_images - computed - len(errors)
        if len(errors):
            log.warning("radiomics failed for %d lesion(s)", len(errors))
        if len(long):
            parts.append(long)
    if not parts:
        return None, cached, computed
    cols = ["patient_id", "lesion_id", "feature", "value"]
    long = pd.concat([p[[c for c in cols if c in p.columns]] for p in parts], ignore_index=True)
    return radiomics_matrix(long).set_index("patient_id"), max(cached, 0), computed


def step_features(ctx: DemoContext) -> str:
    """Build the clinical + genomic + imaging feature matrix (radiomics via the cache)."""
    from icipredict.features.builder import FeatureBuilder, missingness_summary, patient_frame
    from icipredict.tracking.experiment import load_experiment

    config = load_experiment(ctx.experiment)
    spec = config.load_specs()[0]
    cohort = CohortStore(ctx.store_path).cohort()
    rad, ctx.radiomics_cached, ctx.radiomics_computed = cohort_radiomics(cohort, ctx.cache_dir)
    frame = patient_frame(cohort, rad, genes=spec.genes or ())
    ctx.features = FeatureBuilder(spec).fit(frame).transform(frame)
    raw = FeatureBuilder(spec.model_copy(update={"imputation": "none", "scaling": "none"})
                         ).fit_transform(frame)
    miss = missingness_summary(raw, frame["centre"])
    groups = {"clinical": [c for c in miss.index if c in (spec.clinical or [])],
              "genomic": [c for c in miss.index if c in (spec.genomic or [])
                          or c.startswith("mut_")],
              "imaging": [c for c in miss.index if c.startswith("radiomics_")]}
    ctx.missingness = pd.DataFrame(
        {m: miss.loc[cols].mean() for m, cols in groups.items() if cols}).T
    ctx.missingness.index.name = "modality"
    n_rad = len(groups["imaging"])
    return (f"{ctx.features.shape[0]} patients x {ctx.features.shape[1]} features "
            f"({n_rad} radiomics); lesions: {ctx.radiomics_computed} computed, "
            f"{ctx.radiomics_cached} from the cache ({ctx.cache_dir})")
