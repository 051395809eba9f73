"""An untreated arm: patients of the same population *not* treated with ICI (predictive vs prognostic).

The arm is drawn from its own random stream, a child of ``SeedSequence([seed, 1])`` (spawned,
so it shares no draw with the treated network's ``default_rng([seed, 1])``): writing it leaves
the treated patients, their files and every demo number unchanged.

Generative model
----------------
Covariates, genomics and the (counterfactual) response linear predictor ``lp_response`` are drawn
exactly as for the treated patients (no centre offset). Without ICI nobody responds, so:

- **prognostic** effects (both arms): the OS log-hazard terms of ``OS_COEF`` other than
  ``responder`` (NLR, albumin, ECOG, age, prior therapy, TMB, STK11 in NSCLC) and the cancer-type
  log-hazards; PFS likewise;
- **no-ICI main effect**: log-HR :data:`UNTREATED_OS_LOG_HR` (OS) and
  :data:`UNTREATED_PFS_LOG_HR` (PFS) for every untreated patient;
- **predictive** effect (treated arm only): the ICI benefit ``OS_COEF["responder"]`` (-1.30) for
  responders, responders drawn with probability ``expit(lp_response)``: the higher
  ``lp_response``, the larger the expected benefit.

The resulting score x treatment interaction of a Cox model on the standardised true
``lp_response`` has no closed form (the model is a mixture); :func:`true_interaction` estimates it
on a large simulated population from the same generators and ``truth.yaml`` records it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.synthetic.formats import Col, column_map, observed, render, write_text, yaml_dump
from icipredict.synthetic.model import (
    BASE_MIX,
    CANCER_OS_LOGHR,
    CODES,
    OS_COEF,
    PFS_COEF,
)
from icipredict.synthetic.patients import (
    _design,
    _draw_clinical,
    _draw_genomics,
    _draw_response,
    _draw_survival,
    _draw_treatment,
    simulate_patients,
)

#: The untreated arm's centre (folder) name.
CENTRE = "lakeside"
#: Log-hazard of not receiving ICI (both arms otherwise share the prognostic terms).
UNTREATED_OS_LOG_HR = 0.20
UNTREATED_PFS_LOG_HR = 0.30
#: Population size per arm of :func:`true_interaction`.
TRUTH_N = 40_000
#: ``true_interaction()`` (seed 0, n = 40,000 per arm; ~11 s, so stored; a test recomputes it
#: on a smaller population). Monte-Carlo SE of the log ratio about 0.01.
TRUE_INTERACTION = {"interaction_hr_ratio": 1.1837, "hr_per_sd_untreated": 1.3837,
                    "hr_per_sd_treated": 1.6379, "n": TRUTH_N}


def untreated_rng(seed: int) -> np.random.Generator:
    """The arm's generator: a spawned child of ``SeedSequence([seed, 1])`` (independent of the
    treated patients' ``default_rng([seed, 1])``)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 1]).spawn(1)[0])


def simulate_untreated(n_patients: int, seed: int) -> pd.DataFrame:
    """Draw the untreated patients' truth (same population, no ICI, so no response).

    Parameters
    ----------
    n_patients
        Patients in the arm.
    seed
        Network seed (the arm uses its own stream, :func:`untreated_rng`).

    Returns
    -------
    DataFrame
        One row per patient: covariates, ``lp_response`` (what ICI response would have been),
        ``os_log_hazard``/``pfs_log_hazard`` and the observed OS/PFS.
    """
    rng = untreated_rng(seed)
    mix = np.array([BASE_MIX[c] for c in CODES])
    cancer = rng.choice(len(CODES), n_patients, p=mix / mix.sum())
    code = np.array(CODES)[cancer]
    clinical = _draw_clinical(rng, code)
    treatment = _draw_treatment(rng, code)
    drivers, genomics = _draw_genomics(rng, cancer)
    x = _design(clinical, treatment, genomics, drivers, code)
    # counterfactual response: centre offsets are those of the treated centres, so none here
    response = _draw_response(rng, x, cancer, np.zeros(n_patients, dtype=int))
    x["responder"] = np.zeros(n_patients)  # not treated: no ICI response, no ICI benefit
    start_offset = treatment.pop("start_offset")
    survival = _draw_survival(rng, x, cancer, start_offset, os_offset=UNTREATED_OS_LOG_HR,
                              pfs_offset=UNTREATED_PFS_LOG_HR)
    df = pd.DataFrame({
        "centre": CENTRE, "cancer_type": code, **clinical,
        "prior_systemic_therapy": treatment["prior_systemic_therapy"],
        "tmb_latent": genomics["tmb_latent"], "msi_h": genomics["msi_h"],
        "lp_response": response["lp_response"], "p_response": response["p_response"],
        **survival,
    })
    df["source_patient_id"] = [f"LS-{i + 1:05d}" for i in range(n_patients)]
    return df


def true_interaction(seed: int = 0, n: int = TRUTH_N) -> dict[str, float]:
    """The population score x treatment interaction of the true ``lp_response`` (OS, Cox).

    Fits ``z + treated + z x treated`` (lifelines, ``z`` = ``-lp_response`` per SD, i.e. a
    risk score) on ``n`` treated patients (:func:`simulate_patients`) and ``n`` untreated ones
    drawn with an unrelated seed: the Monte-Carlo error is about ``1/sqrt(n)`` of a log-HR.

    Returns
    -------
    dict
        ``interaction_hr_ratio``, ``hr_per_sd_untreated``, ``hr_per_sd_treated`` and ``n``.
    """
    from lifelines import CoxPHFitter

    seed = 10_000 + seed  # never one of the network seeds used for data
    treated = simulate_patients(n, seed)
    untreated = simulate_untreated(n, seed)
    risk = -np.concatenate([treated["lp_response"], untreated["lp_response"]])
    g = np.r_[np.ones(n), np.zeros(n)]
    z = (risk - risk.mean()) / risk.std()
    df = pd.DataFrame({"t": np.r_[treated["os_months"], untreated["os_months"]],
                       "e": np.r_[treated["os_event"], untreated["os_event"]],
                       "z": z, "treated": g, "z_x_treated": z * g})
    b = CoxPHFitter().fit(df, duration_col="t", event_col="e").params_
    return {"interaction_hr_ratio": float(np.exp(b["z_x_treated"])),
            "hr_per_sd_untreated": float(np.exp(b["z"])),
            "hr_per_sd_treated": float(np.exp(b["z"] + b["z_x_treated"])), "n": int(n)}


def untreated_truth_doc(n: int, seed: int, interaction: dict[str, float]) -> dict[str, Any]:
    """The ``untreated_arm`` section of ``truth.yaml``."""
    return {
        "centre": CENTRE, "patients": n,
        "random_stream": f"numpy SeedSequence([{seed}, 1]).spawn(1)[0] (independent of the "
                         "treated patients' stream)",
        "case_mix": "base mix (no centre tilt); covariates drawn as for treated patients",
        "prognostic_os_log_hr": {k: v for k, v in OS_COEF.items() if k != "responder"},
        "prognostic_cancer_type_os_log_hr": dict(CANCER_OS_LOGHR),
        "prognostic_pfs_log_hr": {k: v for k, v in PFS_COEF.items() if k != "responder"},
        "no_ici_os_log_hr": UNTREATED_OS_LOG_HR, "no_ici_pfs_log_hr": UNTREATED_PFS_LOG_HR,
        "predictive": {
            "mechanism": "treated arm only: OS log-HR responder "
                         f"{OS_COEF['responder']} (PFS {PFS_COEF['responder']}), responder ~ "
                         "Bernoulli(expit(lp_response)); untreated patients never respond",
            "cox_interaction_of_true_score": {
                "score": "-lp_response per SD (a risk score), Cox OS ~ z + treated + "
                         "z x treated",
                **interaction,
                "estimated_on": "simulated populations of n treated + n untreated patients "
                                "(true_interaction in icipredict.synthetic.untreated)",
            },
        },
        "files": {"column_map": f"{CENTRE}/column_map.yaml",
                  "truth": "truth_untreated.parquet"},
    }


def write_untreated(out: Path, n_patients: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Write the untreated arm: ``OUT/lakeside/clinical.csv`` + its column map, and
    ``OUT/truth_untreated.parquet``.

    Returns
    -------
    tuple
        The column map path and the ``untreated_arm`` section of ``truth.yaml``.
    """
    truth = simulate_untreated(n_patients, seed)
    obs = truth.assign(ecog=truth["ecog"], tmb_true=truth["tmb_latent"],
                       source_sample_id=truth["source_patient_id"] + "-S1",
                       start_date=pd.Timestamp("2016-01-01"))
    obs = observed(obs.assign(lymphocytes=truth["lymphocytes"], neutrophils=truth["neutrophils"],
                              fcna=np.nan, hed=np.nan, tumour_purity=np.nan, msi_score=np.nan))
    cols = [Col("patient_id", "patient"), Col("sample_id", "sample"), Col("sex", "sex"),
            Col("age", "age", unit="years"), Col("ecog", "ecog"),
            Col("cancer_type", "oncotree_code"), Col("albumin", "albumin_g_dl", unit="g/dL"),
            Col("nlr", "nlr"), Col("prior_systemic_therapy", "prior_systemic_therapy",
                                   event_value=1),
            Col("tmb", "tmb", unit="mut/Mb"), Col("msi_status", "msi"),
            Col("os_months", "os_months", unit="months"), Col("os_event", "death", event_value=1),
            Col("pfs_months", "pfs_months", unit="months"),
            Col("pfs_event", "progression_or_death", event_value=1)]
    frame, cmap = render(obs, cols)
    folder = out / CENTRE
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "clinical.csv", frame.to_csv(index=False, lineterminator="\n"))
    doc = column_map(f"{CENTRE}_no_ici", CENTRE,
                     "Lakeside: patients of the same population NOT treated with ICI (synthetic "
                     "untreated arm for predictive-vs-prognostic checks). No response.",
                     [{"path": "clinical.csv", "columns": cmap,
                       "constants": {"panel": "MSK-IMPACT468"}}], None)
    yaml_dump(folder / "column_map.yaml", doc)
    keep = ["centre", "source_patient_id", "cancer_type", "age", "sex", "albumin", "nlr", "ecog",
            "prior_systemic_therapy", "tmb_latent", "lp_response", "p_response",
            "os_log_hazard", "pfs_log_hazard", "os_time_true", "pfs_time_true", "os_months",
            "os_event", "pfs_months", "pfs_event"]
    truth[keep].to_parquet(out / "truth_untreated.parquet", index=False)
    return folder / "column_map.yaml", untreated_truth_doc(n_patients, seed, TRUE_INTERACTION)


__all__ = ["CENTRE", "TRUE_INTERACTION", "UNTREATED_OS_LOG_HR", "UNTREATED_PFS_LOG_HR", "simulate_untreated",
           "true_interaction", "untreated_rng", "untreated_truth_doc", "write_untreated"]
