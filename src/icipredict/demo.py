"""The demo: the whole way of the data on the built-in synthetic multi-centre network.

``icipredict demo`` (and ``make demo``) runs it. Each step is a function taking the
:class:`DemoContext`, so the demo grows with the package one step at a time, and the tests can
run the same steps on a smaller network:

1. generate the six-centre network (each centre in its own format, with its own quirks);
2. ingest every centre into the DuckDB store (validated, harmonised, pseudonymised);
3. build the genomic + clinical + imaging feature matrix (radiomics from the synthetic images,
   through the feature cache in the work folder: a second run computes nothing);
4. train the response and OS/PFS models with leave-one-centre-out validation, tracked in a local
   MLflow (SQLite in the work folder);
5. register the model and promote it to ``champion`` through the gate, judged on held-out
   patients of a later export of the network (forced, with a recorded reason, only if refused);
6. score three example patients (complete, without imaging, outside the training domain) and a
   weekly list for the tumour board (HTML + JSON reports, HTML + CSV list).

Re-running is idempotent: same seed, same files; unchanged centres are not re-stored; the
training run, registered version and champion are reused when the store content and the
experiment config are unchanged (``retrain=True`` trains anew).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from icipredict.cohort.brca import registry_from_store
from icipredict.cohort.loaders import load_source
from icipredict.cohort.schema import Cohort, CohortError
from icipredict.cohort.store import CohortStore, source_content_hash
from icipredict.synthetic import Network, generate_network

log = logging.getLogger(__name__)

#: The project folder (``experiments/`` and ``models/`` live there in a source checkout).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The demo's experiment config.
DEMO_EXPERIMENT = PROJECT_ROOT / "experiments" / "demo_synthetic.yaml"
#: Tag on the training run: the store content and config it was trained from (for re-use).
DEMO_KEY_TAG = "demo_key"
#: The demo's pseudonymisation secret: a published, fixed demonstration key, so that the demo's
#: patient IDs, and the patients it picks and scores, are the same on every machine. It is used
#: only for the demo's own stores (``<workdir>/icipredict.duckdb`` and ``external.duckdb``) of
#: synthetic patients; the user's key (``ICIPREDICT_PSEUDONYM_KEY`` or the key file) is neither
#: read nor created. Being public, it must never pseudonymise real patients.
DEMO_PSEUDONYM_KEY = b"icipredict-demo: public demonstration key, synthetic patients only"


@dataclass
class DemoContext:
    """Where the demo writes and what earlier steps produced."""

    workdir: Path
    n_patients: int = 600
    seed: int = 7
    experiment: Path = DEMO_EXPERIMENT
    retrain: bool = False
    n_weekly: int = 12
    network: Network | None = None
    ingests: list[dict] = field(default_factory=list)
    harmonisation: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    brca: pd.DataFrame | None = None
    features: pd.DataFrame | None = None
    missingness: pd.DataFrame | None = None
    radiomics_cached: int = 0
    radiomics_computed: int = 0
    run_id: str | None = None
    reused_run: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    folds: pd.DataFrame | None = None
    model_name: str = "icipredict-demo"
    version: str | None = None
    promotion: str | None = None
    forced: bool = False
    scores: dict[str, Any] = field(default_factory=dict)
    weekly: dict[str, Path] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    @property
    def network_dir(self) -> Path:
        """Folder of the generated centres' files."""
        return self.workdir / "network"

    @property
    def store_path(self) -> Path:
        """The demo's DuckDB cohort store."""
        return self.workdir / "icipredict.duckdb"

    @property
    def external_dir(self) -> Path:
        """A later export of the network: held-out patients for the gate and the board."""
        return self.workdir / "external"

    @property
    def external_store_path(self) -> Path:
        """Store of the held-out patients (kept apart from the training store)."""
        return self.workdir / "external.duckdb"

    @property
    def heldout_path(self) -> Path:
        """The gate's held-out evaluation table (model inputs + outcomes of the new patients)."""
        return self.workdir / "heldout.parquet"

    @property
    def cache_dir(self) -> Path:
        """Radiomics feature cache (keyed by settings and image hashes)."""
        return self.workdir / "cache" / "radiomics"

    @property
    def tracking_uri(self) -> str:
        """The local MLflow tracking and registry store."""
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    @property
    def board_dir(self) -> Path:
        """Reports for the tumour board."""
        return self.workdir / "board"

    @property
    def model_uri(self) -> str:
        """The champion's registry URI."""
        return f"models:/{self.model_name}@champion"


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


def _demo_store(path: Path) -> CohortStore:
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


def _ingest_network(network: Network, store: CohortStore) -> list[dict]:
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
    store = _demo_store(ctx.store_path)
    ctx.ingests = _ingest_network(ctx.network, store)
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


# ------------------------------------------------------------------------------ 4 training
def _demo_key(ctx: DemoContext, config_hash: str) -> str:
    """Hash of what the model is trained from: store content per centre and the config."""
    versions = CohortStore(ctx.store_path).versions()
    latest = versions[versions["current"].astype(bool)]  # a restored version may be older
    text = json.dumps({"config": config_hash, "key": CohortStore(ctx.store_path).key_fingerprint(),
                       "data": sorted(zip(latest["centre"], latest["content_hash"], strict=True))})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def loco_table(run_id: str) -> pd.DataFrame:
    """One row per leave-one-centre-out fold of a training run (its nested runs)."""
    import mlflow

    run = mlflow.get_run(run_id)
    children = mlflow.search_runs(experiment_ids=[run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
                                  output_format="list")
    rows = []
    for ch in children:
        p, m = ch.data.params, ch.data.metrics
        rows.append({"held_out": p.get("held_out"), "n_train": int(p.get("n_train", 0)),
                     "n_test": int(p.get("n_test", 0)),
                     "response_auc": m.get("response_auc"),
                     "os_harrell_c": m.get("os_harrell_c"),
                     "pfs_harrell_c": m.get("pfs_harrell_c")})
    return pd.DataFrame(rows).sort_values("held_out").reset_index(drop=True)


def step_train(ctx: DemoContext) -> str:
    """Train response + OS/PFS models, leave-one-centre-out, tracked in the local MLflow."""
    import mlflow

    from icipredict.tracking.experiment import load_experiment
    from icipredict.tracking.mlflow_setup import configure_tracking
    from icipredict.tracking.runs import train_experiment

    config = load_experiment(ctx.experiment)
    assert config.cohort.store is not None, "the demo experiment reads the cohort store"
    config.cohort.store.path = str(ctx.store_path)
    ctx.model_name = config.tracking.registered_model or ctx.model_name
    key = _demo_key(ctx, config.config_hash())
    configure_tracking(ctx.tracking_uri, config.tracking.experiment)
    found = [] if ctx.retrain else mlflow.search_runs(
        experiment_names=[config.tracking.experiment], output_format="list", max_results=1,
        filter_string=f"tags.{DEMO_KEY_TAG} = '{key}' and attributes.status = 'FINISHED'")
    if found:
        ctx.run_id, ctx.reused_run = found[0].info.run_id, True
        ctx.metrics = dict(found[0].data.metrics)
    else:
        result = train_experiment(config, tracking_uri=ctx.tracking_uri, progress=False,
                                  cache_dir=ctx.cache_dir)
        mlflow.MlflowClient().set_tag(result.run_id, DEMO_KEY_TAG, key)
        ctx.run_id, ctx.reused_run, ctx.metrics = result.run_id, False, dict(result.metrics)
    ctx.folds = loco_table(ctx.run_id)
    m = ctx.metrics
    what = "reused unchanged run" if ctx.reused_run else "run"
    within = ""
    if "cv_os_harrell_c_within_fold" in m:  # runs logged before this metric existed lack it
        within = (f" (pairs within a centre: OS C {m['cv_os_harrell_c_within_fold']:.3f}, "
                  f"PFS C {m.get('cv_pfs_harrell_c_within_fold', float('nan')):.3f})")
    return (f"{what} {ctx.run_id} ({ctx.tracking_uri}); pooled held-out-centre AUC "
            f"{m.get('cv_response_auc', float('nan')):.3f}, OS C "
            f"{m.get('cv_os_harrell_c', float('nan')):.3f}, PFS C "
            f"{m.get('cv_pfs_harrell_c', float('nan')):.3f}{within}")


# ------------------------------------------------------------------------------ 5 registry
def external_cohort(ctx: DemoContext) -> tuple[Cohort, pd.DataFrame]:
    """Held-out patients: a later export of the network (another seed), stored apart.

    Returns the cohort and its model-input frame with outcomes (index ``patient_id``).
    """
    from icipredict.features.builder import patient_frame

    n = max(60, ctx.n_patients // 3)
    # New patients: their source IDs continue after the training export's, so a pseudonym never
    # names two people (the same centre + source ID is the same patient).
    net = generate_network(ctx.external_dir, n_patients=n, seed=ctx.seed + 1000, workers=2,
                           first_id=ctx.n_patients)
    store = _demo_store(ctx.external_store_path)
    _ingest_network(net, store)
    cohort = store.cohort()
    rad, _, _ = cohort_radiomics(cohort, ctx.cache_dir)
    return cohort, patient_frame(cohort, rad, include_outcomes=True)


def _model_inputs(model_uri: str) -> list[str] | None:
    import mlflow

    signature = mlflow.models.get_model_info(model_uri).signature
    schema = signature.inputs if signature is not None else None
    return schema.input_names() if schema is not None and schema.has_input_names() else None


def write_heldout(ctx: DemoContext) -> Path:
    """Write the gate's held-out table (model inputs + outcomes of the new patients).

    Kept on disk so ``icipredict promote NAME VERSION --eval-data`` judges later versions on the
    same (synthetic, pseudonymised) patients.
    """
    _, frame = external_cohort(ctx)
    frame.reset_index(drop=True).to_parquet(ctx.heldout_path, index=False)
    return ctx.heldout_path


def step_register(ctx: DemoContext) -> str:
    """Register the run's model and promote it to champion through the gate."""
    from mlflow import MlflowClient

    from icipredict.tracking.registry import CHAMPION, EvalData, current_champion, promote, register

    client = MlflowClient()
    existing = client.search_model_versions(f"name = '{ctx.model_name}' and "
                                            f"run_id = '{ctx.run_id}'")
    champion = current_champion(ctx.model_name)
    if existing and champion in {str(v.version) for v in existing}:
        ctx.version, ctx.forced = champion, False
        tags = client.get_model_version(ctx.model_name, champion).tags or {}
        ctx.forced = "promotion.forced_reason" in tags
        ctx.promotion = f"version {champion} (this run) already holds {CHAMPION}"
        if not ctx.heldout_path.exists():
            write_heldout(ctx)
        return f"{ctx.model_name} {ctx.promotion}"
    ctx.version = (str(max(int(v.version) for v in existing)) if existing
                   else register(ctx.run_id, ctx.model_name))
    write_heldout(ctx)
    data = EvalData.read(ctx.heldout_path)
    columns = _model_inputs(f"models:/{ctx.model_name}/{ctx.version}")
    if columns is not None:
        data.X = data.X.reindex(columns=columns)
    decision = promote(ctx.model_name, ctx.version, eval_data=data, n_boot=200)
    if not decision.promoted:
        reason = ("demo on synthetic data: the gate refused (" + "; ".join(decision.reasons)
                  + "); promoted so the board steps can run")
        decision = promote(ctx.model_name, ctx.version, eval_data=data, n_boot=200, force=True,
                           reason=reason[:1000])
    ctx.forced = decision.forced
    ctx.promotion = decision.summary()
    word = "FORCED to champion (reason recorded)" if decision.forced else "promoted to champion"
    return (f"{ctx.model_name} version {ctx.version} {word} on {len(data.X)} held-out patients: "
            + "; ".join(decision.reasons))


# ------------------------------------------------------------------------------ 6 board
def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return None
    if isinstance(v, np.integer | np.bool_):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def patient_record(cohort: Cohort, patient_id: str,
                   radiomics: pd.DataFrame | None = None) -> dict[str, Any]:
    """A tumour-board patient record (JSON-ready dict) of one stored patient.

    Clinical values, labs, treatment, the first sample's genomics with its full mutation list
    (so TMB is recomputed exactly as in training) and precomputed radiomics when imaged.
    """
    def first(table: pd.DataFrame) -> dict[str, Any]:
        rows = table[table["patient_id"].astype(str) == patient_id]
        return {} if rows.empty else {k: _value(v) for k, v in rows.iloc[0].items()}

    pat, labs, tx, smp = (first(cohort.patients), first(cohort.labs), first(cohort.treatments),
                          first(cohort.samples))
    rec: dict[str, Any] = {"patient_id": patient_id, "centre": pat.get("centre")}
    for k in ("cancer_type", "sex", "age", "bmi", "ecog", "smoking", "stage_iv"):
        rec[k] = pat.get(k)
    for k in ("drug", "drug_class", "line", "prior_systemic_therapy"):
        rec[k] = tx.get(k)
    for k in ("nlr", "albumin", "platelets", "haemoglobin", "ldh"):
        rec[k] = labs.get(k)
    if smp:
        for k in ("panel", "panel_size_mb", "tmb", "msi_status", "msi_score", "fcna", "hed",
                  "hla_loh"):
            rec[k] = smp.get(k)
        muts = cohort.mutations[cohort.mutations["sample_id"] == smp["sample_id"]]
        rec["mutations"] = [
            {"gene": str(r.hugo_symbol), "variant_classification": str(r.variant_classification),
             "protein_change": _value(r.hgvsp_short) if pd.notna(r.hgvsp_short) else None}
            for r in muts.itertuples()]
    if radiomics is not None and patient_id in radiomics.index:
        row = radiomics.loc[patient_id].dropna()
        if len(row):
            rec["radiomics"] = {k.removeprefix("radiomics_"): float(v) for k, v in row.items()}
    return {k: v for k, v in rec.items() if v is not None}


def example_records(cohort: Cohort, radiomics: pd.DataFrame | None,
                    domain_types: set[str]) -> dict[str, dict[str, Any]]:
    """The three example patients: complete, without imaging, outside the training domain."""
    from icipredict.cohort.harmonise import CANCER_TYPES

    # "Sequenced" here: a sample with at least one variant (a TMB of 0 makes a poor example).
    mutated = set(cohort.mutations["sample_id"].astype(str))
    samples = cohort.samples[cohort.samples["sample_id"].astype(str).isin(mutated)]
    sequenced = set(samples["patient_id"].astype(str))
    labs = cohort.labs.set_index(cohort.labs["patient_id"].astype(str))
    with_labs = set(labs.index[labs[["nlr", "albumin"]].notna().all(axis=1)])
    imaged = set(radiomics.index) if radiomics is not None else set()
    ids = sorted(cohort.patients["patient_id"].astype(str))
    complete = next(p for p in ids if p in sequenced and p in imaged and p in with_labs)
    no_img = next(p for p in ids if p in sequenced and p not in imaged and p in with_labs
                  and p != complete)
    other = next(p for p in reversed(ids) if p in sequenced and p not in (complete, no_img))
    ood = patient_record(cohort, other)
    unseen = [t for t in ("GBM", *CANCER_TYPES) if t not in domain_types]
    ood.update({"cancer_type": unseen[0] if unseen else ood["cancer_type"], "age": 97.0,
                "nlr": 95.0})
    ood.pop("radiomics", None)
    return {"complete": patient_record(cohort, complete, radiomics),
            "no_imaging": patient_record(cohort, no_img, radiomics), "out_of_domain": ood}


def step_board(ctx: DemoContext) -> str:
    """Score the three example patients and a weekly list from the champion; write reports."""
    import mlflow

    from icipredict.predict.report import write_list, write_report
    from icipredict.predict.scorer import clear_model_cache, load_board_model, score, score_batch

    mlflow.set_tracking_uri(ctx.tracking_uri)
    mlflow.set_registry_uri(ctx.tracking_uri)
    clear_model_cache()  # the champion alias may have moved in this process
    if not ctx.external_store_path.exists():
        external_cohort(ctx)
    cohort = CohortStore(ctx.external_store_path).cohort()
    rad, _, _ = cohort_radiomics(cohort, ctx.cache_dir)
    domain = load_board_model(ctx.model_uri).domain
    types = set((domain.get("categories") or {}).get("cancer_type") or [])
    records = example_records(cohort, rad, types)
    (ctx.board_dir / "patients").mkdir(parents=True, exist_ok=True)
    ctx.scores = {}
    for label, rec in records.items():
        path = ctx.board_dir / "patients" / f"{label}.json"
        path.write_text(json.dumps(rec, indent=2))
        s = score(path, ctx.model_uri)
        (ctx.board_dir / f"{label}.json").write_text(s.to_json(indent=2))
        write_report(s, ctx.board_dir / f"{label}.html")
        ctx.scores[label] = s
    ids = sorted(cohort.patients["patient_id"].astype(str))
    chosen = {r["patient_id"] for r in records.values()}
    weekly = [patient_record(cohort, p, rad) for p in ids if p not in chosen][:ctx.n_weekly]
    weekly += list(records.values())
    (ctx.board_dir / "weekly_patients.json").write_text(json.dumps(weekly, indent=2))
    ctx.weekly = write_list(score_batch(weekly, ctx.model_uri), ctx.board_dir / "weekly")
    parts = []
    for label, s in ctx.scores.items():
        p = s.response.probability
        parts.append(f"{label}: {'n/a' if p is None else f'{100 * p:.0f}%'} response, risk "
                     f"{s.risk.group or 'n/a'}, {len(s.warnings)} warning(s)")
    return "; ".join(parts) + f"; weekly list of {len(weekly)} -> {ctx.weekly['html']}"


#: The demo's steps, in order: (title, function).
STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("Generate the synthetic network", step_generate),
    ("Ingest the centres into the cohort store", step_ingest),
    ("Build clinical + genomic + imaging features", step_features),
    ("Train response and OS/PFS models (leave-one-centre-out, MLflow)", step_train),
    ("Register and promote the champion (gate)", step_register),
    ("Score patients for the tumour board", step_board),
]


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep the demo's output readable: third-party warnings and INFO chatter off.

    Convergence warnings of single-fold Cox fits on small centres and MLflow's start-up and
    signature notes say nothing the demo's tables do not; our own warnings still show.
    """
    import mlflow  # noqa: F401 - configures its loggers on import; quieten them afterwards

    noisy = [logging.getLogger(n) for n in ("mlflow", "mlflow.store.db.utils", "mlflow.pyfunc",
                                            "alembic")]
    levels = [lg.level for lg in noisy]
    with warnings.catch_warnings():
        for module in ("lifelines", "mlflow", "sklearn", "pandas", "numpy", "xgboost"):
            warnings.filterwarnings("ignore", module=module)
        warnings.filterwarnings("ignore", message=".*type hints to the `predict` method")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        for lg in noisy:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(noisy, levels, strict=True):
                lg.setLevel(level)


def run_demo(ctx: DemoContext, on_step: Callable[[int, str, str], None] | None = None,
             steps: list[tuple[str, Callable[[DemoContext], str]]] | None = None) -> DemoContext:
    """Run every demo step; ``on_step(i, title, result)`` is called after each one.

    Per-step wall-clock seconds are appended to ``ctx.timings``. ``steps`` runs a prefix or
    subset of :data:`STEPS` instead (e.g. only the cohort steps).
    """
    from icipredict.tracking.mlflow_setup import disable_telemetry

    disable_telemetry()
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ctx.timings = []
    for i, (title, step) in enumerate(steps or STEPS, start=1):
        log.info("demo step %d: %s", i, title)
        start = time.perf_counter()
        with _quiet():
            result = step(ctx)
        ctx.timings.append((title, time.perf_counter() - start))
        if on_step is not None:
            on_step(i, title, result)
    return ctx


# ------------------------------------------------------------------------------ what to show
def harmonisation_lines(table: pd.DataFrame) -> list[str]:
    """:func:`harmonisation_table` as one line per centre (for a terminal)."""
    return [f"  {r.centre} ({r.format}, {r.assay}): {r.conversions}"
            for r in table.itertuples()]


def step_tables(ctx: DemoContext, step: Callable[[DemoContext], str]
                ) -> list[tuple[str, pd.DataFrame]]:
    """Tables worth showing after ``step`` (title, DataFrame), for the CLI to render."""
    if step is step_ingest and ctx.summary is not None:
        ingested = pd.DataFrame(ctx.ingests)[["centre", "version", "changed", "patients",
                                              "samples", "mutations", "imaging", "radiomics"]]
        summary = ctx.summary[["centre", "patients", "with_mutations", "with_imaging",
                               "responders", "evaluable", "os_events", "median_followup_months"]]
        return [("Ingested (rows per table)", ingested), ("Cohort summary", summary)]
    if step is step_features and ctx.missingness is not None:
        return [("Mean fraction missing before imputation, per modality and centre",
                 ctx.missingness.reset_index())]
    if step is step_train and ctx.folds is not None:
        return [("Leave-one-centre-out: each centre held out in turn", ctx.folds)]
    if step is step_board and ctx.scores:
        rows = [{"example": label, "patient_id": s.patient_id, "cancer_type": s.cancer_type,
                 "response": s.response.probability, "ci_low": s.response.ci_low,
                 "ci_high": s.response.ci_high, "risk_group": s.risk.group,
                 "median_os": s.os.median_months,
                 "warnings": "; ".join(w.code for w in s.warnings) or "-"}
                for label, s in ctx.scores.items()]
        return [("Example patients", pd.DataFrame(rows))]
    return []


def closing_lines(ctx: DemoContext) -> list[str]:
    """Where everything is and the commands to open it."""
    uri = ctx.tracking_uri
    lines = ["Where everything is:",
             f"  network (centres' own files)   {ctx.network_dir}",
             f"  cohort store (DuckDB)          {ctx.store_path}",
             f"  radiomics cache                {ctx.cache_dir}",
             f"  MLflow (runs, registry)        {uri}  run {ctx.run_id}",
             f"  champion                       {ctx.model_uri} (version {ctx.version}"
             f"{', FORCED with a recorded reason' if ctx.forced else ''})",
             f"  gate's held-out patients       {ctx.heldout_path}"]
    for label in ctx.scores:
        lines.append(f"  board report {label:<17} {ctx.board_dir / (label + '.html')} (+ .json)")
    if ctx.weekly:
        lines.append(f"  weekly list                    {ctx.weekly['html']} (+ {ctx.weekly['csv']})")
    lines += ["Open it with:",
              f"  mlflow ui --backend-store-uri {uri}",
              f"  icipredict model card {ctx.model_name}@champion --tracking-uri {uri}",
              f"  icipredict predict --patient {ctx.board_dir / 'patients' / 'complete.json'} "
              f"--model {ctx.model_uri} --tracking-uri {uri}",
              f"  ICIPREDICT_API_TOKEN=change-me icipredict serve --model {ctx.model_uri} "
              f"--tracking-uri {uri}",
              f"  icipredict promote {ctx.model_name} <VERSION> --eval-data {ctx.heldout_path} "
              f"--tracking-uri {uri}",
              f"  icipredict cohort summary --store {ctx.store_path}",
              f"  icipredict cohort brca --store {ctx.store_path}"]
    return lines
