"""Demo steps 4-5: train with leave-one-centre-out validation, register and promote the champion."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from icipredict.cohort.schema import Cohort
from icipredict.cohort.store import CohortStore
from icipredict.demo.cohort import cohort_radiomics, demo_store, ingest_network
from icipredict.demo.context import DEMO_KEY_TAG, DemoContext
from icipredict.synthetic import generate_network


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
    store = demo_store(ctx.external_store_path)
    ingest_network(net, store)
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
    assert ctx.run_id is not None, "step_train sets the run"
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
