"""``icipredict validate``: a registered model on an external cohort, reported and tracked.

:func:`validate_model` loads the registered model's bundle (through the registry reader), reads
the cohort (a column map, or one centre of a cohort store), scores it with the registry model
and with the reference scores (TMB >= 10; LORIS LLR6 with its *published* coefficients; any other
registered version), and computes the report with :mod:`icipredict.evaluation.external`.
:func:`log_validation` records it as an MLflow *evaluation run* linked to the model version
(tags ``model_name``/``model_version``): aggregates only. The cohort's IDs stay in the local
``scores.csv`` that :func:`write_outputs` writes next to the report; :func:`assert_no_ids`
checks the run holds none of them.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.evaluation import external as ext
from icipredict.evaluation.survival_metrics import HORIZONS
from icipredict.modeling import loris_published as loris

logger = logging.getLogger(__name__)

#: The survival estimate is prognosis under ICI unless an interaction was shown.
PROGNOSIS_STATEMENT = ("The survival estimate is prognosis under ICI, not the benefit of ICI: "
                       "no score x treatment interaction has been shown on untreated patients.")
#: Model version tag set by a validation with untreated patients: ``shown`` / ``not shown``.
INTERACTION_TAG = "predictive.interaction"


def survival_statement(tags: dict[str, str]) -> str:
    """What the survival estimate means, from a model version's tags (the model card's line)."""
    if tags.get(INTERACTION_TAG) == "shown":
        return ("A score x treatment interaction was shown on untreated patients (validation "
                f"run {tags.get('predictive.run', '?')}): the risk score carries ICI-specific "
                "information. The survival estimate itself is still prognosis under ICI.")
    return PROGNOSIS_STATEMENT


OUTCOME_COLUMNS = ("responder", "os_months", "os_event", "pfs_months", "pfs_event")


@dataclass
class LoadedModel:
    """A registered version read through its bundle."""

    name: str | None
    version: str | None
    uri: str
    bundle: Any
    model: Any

    def score(self, frame: pd.DataFrame, horizons: tuple[float, ...] = (12.0,)) -> pd.DataFrame:
        """The registry model's output for ``frame`` (its input columns; intervals skipped)."""
        names = [c["name"] for c in self.bundle.input_columns]
        return self.model.predict(None, frame.reindex(columns=names),
                                  params={"horizons": list(horizons), "intervals": False})


@dataclass
class ValidationResult:
    """What :func:`validate_model` computed (``scores`` holds the cohort's IDs: local only)."""

    report: dict[str, Any]
    scores: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)


def load_model(uri: str) -> LoadedModel:
    """Read ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` (or ``NAME@ALIAS``) or a model folder."""
    import mlflow

    from icipredict.registry.bundle import Bundle
    from icipredict.registry.model import ICIPredictModel

    if not uri.startswith("models:/") and ("@" in uri or uri.count("/") == 1) \
            and not Path(uri).exists():
        uri = f"models:/{uri}"
    name = version = None
    if uri.startswith("models:/"):
        rest = uri[len("models:/"):]
        client = mlflow.MlflowClient()
        if "@" in rest:
            name, alias = rest.split("@", 1)
            version = str(client.get_model_version_by_alias(name, alias).version)
        else:
            name, _, version = rest.partition("/")
            version = str(client.get_model_version(name, version).version)
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}"))
    else:
        local = Path(uri)
    bundle = Bundle.of_model(local)
    if not bundle.has_models:
        raise CohortError(f"{uri}: not an icipredict registry model with its own models")
    return LoadedModel(name, version, uri, bundle, ICIPredictModel().load_bundle(bundle))


def load_cohort(spec: str | Path, *, genes: Any = None, radiomics: dict[str, Any] | None = None,
                cache_dir: str | Path | None = None, builder_spec: Any = None) -> pd.DataFrame:
    """One row per patient with inputs and outcomes, from a column map or ``STORE#CENTRE``.

    Parameters
    ----------
    spec
        A column-map YAML (or cBioPortal folder) that ``load_source`` reads, or
        ``path/to/store.duckdb#centre`` for one centre of a cohort store.
    genes, radiomics, cache_dir, builder_spec
        The model's gene flags, ``radiomics.json`` and feature spec (radiomics are computed
        with the model's settings when it uses imaging), and the radiomics cache.
    """
    from icipredict.cohort.loaders import load_source
    from icipredict.features.builder import patient_frame
    from icipredict.features.row_order import stable_patient_order

    text = str(spec)
    if "#" in text and text.split("#", 1)[0].endswith(".duckdb"):
        from icipredict.cohort.store import CohortStore

        path, centre = text.split("#", 1)
        if not Path(path).is_file():
            raise CohortError("cohort store not found", file=path)
        cohort = CohortStore(path).cohort([centre])
        if not len(cohort.patients):
            raise CohortError(f"no patients of centre {centre!r} in the store", file=path)
    else:
        if not Path(text).exists():
            raise CohortError("cohort column map or folder not found", file=text)
        cohort = load_source(text)
    rad = _radiomics(cohort, builder_spec, radiomics, cache_dir)
    kwargs = {"genes": genes} if genes is not None else {}
    # Bootstrap resamples draw by position: an order that does not change with the key.
    return stable_patient_order(patient_frame(cohort, rad, include_outcomes=True, **kwargs))


def _radiomics(cohort: Any, builder_spec: Any, radiomics: dict[str, Any] | None,
               cache_dir: str | Path | None) -> pd.DataFrame | None:
    if builder_spec is None or "imaging" not in builder_spec.modalities:
        return None
    from icipredict.training.data import cohort_radiomics

    rec = radiomics or {}
    source = rec.get("settings_source", "default")
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(source, dict):  # a settings file: rebuild it from the recorded text
            path = Path(tmp) / source.get("file", "settings.yaml")
            path.write_text(source.get("content", ""), encoding="utf-8")
            source = path
        return cohort_radiomics(cohort, builder_spec, cache_dir, False, settings=source,
                                rule=rec.get("rule", "largest"))


# ------------------------------------------------------------------------------ scores
def model_score(name: str, out: pd.DataFrame, label: str) -> ext.Score:
    """A :class:`Score` from the registry model's output (PFS ranked by 1 - S_PFS(12))."""
    p = pd.to_numeric(out["response_probability"], errors="coerce").to_numpy(dtype=float)
    risk = pd.to_numeric(out["risk_score"], errors="coerce").to_numpy(dtype=float)
    pfs = risk
    if "pfs_survival_12m" in out:
        s12 = pd.to_numeric(out["pfs_survival_12m"], errors="coerce").to_numpy(dtype=float)
        pfs = np.where(np.isfinite(s12), 1 - s12, np.nan) if np.isfinite(s12).any() else risk
    return ext.Score(name, probability=p if np.isfinite(p).any() else None,
                     os_risk=risk if np.isfinite(risk).any() else None,
                     pfs_risk=pfs if np.isfinite(pfs).any() else None, label=label)


def reference_scores(frame: pd.DataFrame) -> list[ext.Score]:
    """TMB >= 10 (a 0/1 rule: discrimination only) and the published LORIS LLR6."""
    out = []
    if "tmb" in frame:
        tmb = pd.to_numeric(frame["tmb"], errors="coerce").to_numpy(dtype=float)
        rule = np.where(np.isfinite(tmb), (tmb >= 10).astype(float), np.nan)
        out.append(ext.Score("tmb_ge_10", rank=rule, os_risk=-rule, pfs_risk=-rule,
                             label="TMB >= 10 mut/Mb (FDA pan-cancer rule; 0/1)"))
    if all(c in frame for c in (*loris.NUMERIC, "cancer_type")):
        s = loris.published_llr6_logit(frame)
        out.append(ext.Score("loris_llr6_published", probability=loris.published_llr6_probability(
            frame), os_risk=-s, pfs_risk=-s,
            label=f"LORIS LLR6, published coefficients ({loris.SOURCE}); not calibrated "
                  "(balanced class weights)"))
    return out


# ------------------------------------------------------------------------------ report
def describe_cohort(frame: pd.DataFrame, label: str) -> dict[str, Any]:
    """Counts of the cohort (cells under 5 suppressed): patients, centres, types, outcomes."""
    desc: dict[str, Any] = {"source": label, "n": int(len(frame))}
    if "centre" in frame:
        desc["centres"] = {str(k): ext.cell(int(v))
                           for k, v in frame["centre"].value_counts().sort_index().items()}
    if "cancer_type" in frame:
        desc["cancer_types"] = {str(k): ext.cell(int(v)) for k, v in
                                frame["cancer_type"].value_counts().sort_index().items()}
    for col in ("responder", "os_event", "pfs_event"):
        if col in frame:
            v = pd.to_numeric(frame[col], errors="coerce")
            desc[f"{col}_evaluable"] = int(v.notna().sum())
            desc[f"{col}_positive"] = ext.cell(int(v.sum()))
    if "os_months" in frame and "os_event" in frame:
        cens = frame.loc[frame["os_event"] == 0, "os_months"]
        desc["median_follow_up_months_censored"] = float(cens.median()) if len(cens) else None
    return ext.json_ready(desc)


def _with_interaction(report: dict[str, Any], scores: list[ext.Score], frame: pd.DataFrame,
                      untreated: pd.DataFrame, untreated_scores: list[ext.Score],
                      n_boot: int, seed: int) -> None:
    """Add ``predictive``: per score and end point, the treatment interaction."""
    result: dict[str, Any] = {"untreated": describe_cohort(untreated, "untreated")}
    for a, b in zip(scores, untreated_scores, strict=True):
        for end in ("os", "pfs"):
            ra, rb = getattr(a, f"{end}_risk"), getattr(b, f"{end}_risk")
            cols = [f"{end}_months", f"{end}_event"]
            if ra is None or rb is None or not all(c in frame and c in untreated for c in cols):
                continue
            t = np.r_[frame[cols[0]].to_numpy(float), untreated[cols[0]].to_numpy(float)]
            e = np.r_[frame[cols[1]].to_numpy(float), untreated[cols[1]].to_numpy(float)]
            r = np.r_[ra, rb]
            g = np.r_[np.ones(len(frame)), np.zeros(len(untreated))]
            keep = np.isfinite(t) & np.isfinite(e) & np.isfinite(r)
            try:
                res = ext.treatment_interaction(t[keep], e[keep], r[keep], g[keep],
                                                n_boot=n_boot, seed=seed)
            except (CohortError, ValueError) as exc:  # e.g. no events in one group
                res = {"note": str(exc)}
            result.setdefault(a.name, {})[end] = res
    result["statement"] = (
        "A score x treatment interaction was shown for the model's risk score on OS: it "
        "carries ICI-specific information." if interaction_shown(result)
        else PROGNOSIS_STATEMENT)
    report["predictive"] = result


def interaction_shown(predictive: dict[str, Any]) -> bool:
    """Whether the model's risk score showed an interaction with treatment: the 95% CI of the
    OS HR ratio excludes 1 (OS is the pre-declared end point; PFS only when OS is absent, so
    two end points do not give two chances)."""
    model = predictive.get("model") or {}
    block = model.get("os") if "os" in model else model.get("pfs")
    return bool((block or {}).get("predictive"))


def validate_model(model_uri: str, cohort: str | Path, *, untreated: str | Path | None = None,
                   compare: str | None = None, n_boot: int = 1000, seed: int = 0,
                   horizons: tuple[float, ...] = HORIZONS,
                   cache_dir: str | Path | None = None) -> ValidationResult:
    """External validation of a registered model on ``cohort`` (see the module notes).

    Parameters
    ----------
    model_uri
        ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
    cohort, untreated
        Column map or ``STORE#CENTRE`` of the ICI-treated cohort, and optionally of patients
        not treated with ICI (predictive vs prognostic).
    compare
        Another registered version (same URI forms) scored as a reference.
    n_boot, seed, horizons, cache_dir
        Bootstrap resamples and seed, time-dependent AUC horizons, radiomics cache.
    """
    lm = load_model(model_uri)
    spec = lm.bundle.builder.spec_
    opts = {"genes": spec.genes or (), "radiomics": lm.bundle.radiomics, "cache_dir": cache_dir,
            "builder_spec": spec}
    frame = load_cohort(cohort, **opts)
    scores = [model_score("model", lm.score(frame), f"{lm.name} v{lm.version}")]
    other = load_model(compare) if compare else None
    if other is not None:
        scores.append(model_score(f"version_{other.version}", other.score(frame),
                                  f"{other.name} v{other.version}"))
    scores += reference_scores(frame)
    report = _report(lm, frame, scores, str(cohort), n_boot, seed, horizons)
    if untreated is not None:
        uframe = load_cohort(untreated, **opts)
        uscores = [model_score("model", lm.score(uframe), "")]
        if other is not None:
            uscores.append(model_score(f"version_{other.version}", other.score(uframe), ""))
        uscores += reference_scores(uframe)
        _with_interaction(report, scores, frame, uframe, uscores, n_boot, seed)
    else:
        report["predictive"] = {"statement": PROGNOSIS_STATEMENT + " (no untreated cohort given)"}
    table = _score_table(frame, scores)
    return ValidationResult(ext.json_ready(report), table, _figures(frame, scores))


def _report(lm: LoadedModel, frame: pd.DataFrame, scores: list[ext.Score], source: str,
            n_boot: int, seed: int, horizons: tuple[float, ...]) -> dict[str, Any]:
    outcomes = frame.reindex(columns=[c for c in OUTCOME_COLUMNS if c in frame])
    model = scores[0]
    return {
        "model": {"name": lm.name, "version": lm.version, "uri": lm.uri},
        "cohort": describe_cohort(frame, Path(source).name),
        "case_mix": ext.case_mix_shift(frame, lm.bundle.domain),
        "settings": {"n_boot": n_boot, "seed": seed, "horizons": list(horizons),
                     "ci": "bootstrap percentile 95% (response: stratified by responder; "
                           "survival: by event)", "ece_binning": ext.ECE_BINNING,
                     "td_auc_boot": ext.TD_AUC_BOOT,
                     "pfs_score": "1 - predicted PFS at 12 months (the PFS model), else "
                                  "the OS risk score"},
        "scores": {s.name: ext.score_metrics(s, outcomes, horizons=horizons, n_boot=n_boot,
                                             seed=seed) for s in scores},
        "differences": {s.name: ext.paired_differences(model, s, outcomes, n_boot=n_boot,
                                                       seed=seed) for s in scores[1:]},
        "cancer_types": ext.subgroup_rows(frame, model, n_boot=n_boot, seed=seed),
    }


def _score_table(frame: pd.DataFrame, scores: list[ext.Score]) -> pd.DataFrame:
    """The local join table: the cohort's own IDs, outcomes and every score."""
    out = pd.DataFrame(index=frame.index.astype(str))
    out.index.name = "patient_id"
    for col in ("centre", "cancer_type", *OUTCOME_COLUMNS):
        if col in frame:
            out[col] = frame[col].to_numpy()
    for s in scores:
        if s.probability is not None:
            out[f"{s.name}_response_probability"] = s.probability
        elif s.rank is not None:
            out[f"{s.name}_score"] = s.rank
        if s.os_risk is not None and s.probability is not None and s.name.startswith(
                ("model", "version_")):
            out[f"{s.name}_risk_score"] = s.os_risk
    return out


def _figures(frame: pd.DataFrame, scores: list[ext.Score]) -> dict[str, Any]:
    """Calibration and decision curves of the probability scores (skipped when undefined)."""
    from icipredict.evaluation.decision import decision_curve
    from icipredict.evaluation.plots import plot_calibration, plot_decision_curve

    if "responder" not in frame:
        return {}
    y = frame["responder"].to_numpy(dtype=float)
    probs = {s.name: s.probability for s in scores if s.probability is not None}
    keep = np.isfinite(y)
    for p in probs.values():
        keep &= np.isfinite(p)
    if not probs or keep.sum() < 10 or y[keep].min() == y[keep].max():
        return {}
    probs = {k: v[keep] for k, v in probs.items()}
    figs = {"calibration.png": plot_calibration(y[keep], probs, title="Calibration (external)")}
    curve = decision_curve(y[keep], probs, np.round(np.arange(0.02, 0.62, 0.02), 2),
                           n_boot=200)
    figs["decision_curve.png"] = plot_decision_curve(
        curve, title="Decision curve (external; bands: bootstrap 95% CI)")
    return figs


def flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics: ``<score>.<end point>.<metric>[_ci_low|_ci_high]`` (aggregates only)."""
    out: dict[str, float] = {}

    def put(key: str, est: Any) -> None:
        if isinstance(est, dict) and "value" in est:
            for suffix, k in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
                if est.get(k) is not None:
                    out[f"{key}{suffix}"] = float(est[k])

    for name, s in report.get("scores", {}).items():
        for end, block in s.items():
            if not isinstance(block, dict):
                continue
            for metric, est in block.items():
                if metric == "td_auc" and isinstance(est, dict):
                    for h, e in est.items():
                        put(f"{name}.{end}.td_auc_{h}", e)
                else:
                    put(f"{name}.{end}.{metric}", est)
    for name, diffs in report.get("differences", {}).items():
        for metric, est in diffs.items():
            put(f"diff_model_minus_{name}.{metric}", est)
    for name, block in (report.get("predictive") or {}).items():
        if isinstance(block, dict):
            for end, res in block.items():
                if isinstance(res, dict) and "interaction_hr_ratio" in res:
                    put(f"interaction.{name}.{end}.hr_ratio", res["interaction_hr_ratio"])
                    put(f"interaction.{name}.{end}.c_treated", res["c_treated"])
                    put(f"interaction.{name}.{end}.c_untreated", res["c_untreated"])
    return out


__all__ = ["INTERACTION_TAG", "interaction_shown", "PROGNOSIS_STATEMENT", "survival_statement", "LoadedModel", "ValidationResult", "describe_cohort",
           "flat_metrics", "load_cohort", "load_model", "model_score", "reference_scores",
           "validate_model"]
