"""Patients: the latent truth (covariates, genomics, response, survival) and their source IDs.

Every draw comes from one generator, ``numpy.random.default_rng([seed, 1])``, in a fixed order
(the helpers below are called in that order): the same seed gives the same patients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icipredict.cohort.harmonise import PANELS
from icipredict.synthetic.model import (
    CANCER_OS_LOGHR,
    CANCER_RESPONSE_OFFSET,
    CENTRES,
    CODES,
    DATA_CUT,
    DRIVER_GENES,
    DRIVER_PREVALENCE,
    LOSS_MEAN_MONTHS,
    MSI_PREVALENCE,
    OS_COEF,
    OS_SCALE,
    OS_SHAPE,
    PFS_COEF,
    PFS_SCALE,
    PFS_SHAPE,
    RESPONSE_COEF,
    START_DAYS,
    START_FIRST,
    TMB_FACTOR,
    centre_mix,
    per_code,
)


def simulate_patients(n_patients: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """Draw the per-patient truth: covariates, latent genomics, response and survival.

    Parameters
    ----------
    n_patients
        Number of patients across the network.
    seed
        Seed of the generator; the same seed gives the same patients.
    first_id
        First running number of each centre's source IDs.

    Returns
    -------
    DataFrame
        One row per patient (see :mod:`icipredict.synthetic`); drivers are boolean
        ``drv_<GENE>`` columns of the *latent* status.
    """
    rng = np.random.default_rng([seed, 1])
    centre, cancer = _draw_centres(rng, n_patients)
    code = np.array(CODES)[cancer]
    clinical = _draw_clinical(rng, code)
    treatment = _draw_treatment(rng, code)
    drivers, genomics = _draw_genomics(rng, cancer)
    x = _design(clinical, treatment, genomics, drivers, code)
    response = _draw_response(rng, x, cancer, centre)
    x["responder"] = response["responder"].astype(float)
    start_offset = treatment.pop("start_offset")
    survival = _draw_survival(rng, x, cancer, start_offset)
    df = pd.DataFrame({
        "centre": np.array([c.name for c in CENTRES])[centre], "centre_index": centre,
        "cancer_type": code, **clinical, **treatment,
        "start_date": pd.to_datetime(START_FIRST) + pd.to_timedelta(start_offset, unit="D"),
        **genomics, **response, **survival,
    })
    for g in DRIVER_GENES:
        df[f"drv_{g}"] = drivers[g]
    _assign_assays_and_ids(df, rng, first_id)
    return df


def _draw_centres(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's centre (index, sorted) and cancer type (index into ``CODES``)."""
    shares = np.array([c.share for c in CENTRES])
    centre = np.sort(rng.choice(len(CENTRES), n, p=shares / shares.sum()))
    cancer = np.empty(n, dtype=np.int64)
    for k, spec in enumerate(CENTRES):
        idx = np.flatnonzero(centre == k)
        cancer[idx] = rng.choice(len(CODES), idx.size, p=centre_mix(spec))
    return centre, cancer


def _draw_clinical(rng: np.random.Generator, code: np.ndarray) -> dict[str, np.ndarray]:
    """Demographics, performance status, stage, smoking and blood values."""
    n = len(code)
    is_nsclc = code == "NSCLC"
    age = np.clip(rng.normal(63, 12, n), 18, 90)
    p_male = np.where(np.isin(code, ["BRCA", "OV", "UCEC"]), 0.0,
                      np.where(np.isin(code, ["BLCA", "HNSC", "ESCA", "STAD", "HB"]), 0.72, 0.57))
    sex = np.where(rng.random(n) < p_male, "male", "female")
    bmi = np.clip(np.exp(rng.normal(np.log(26.2), 0.2, n)), 14, 60)
    ecog = rng.choice(3, n, p=[0.40, 0.50, 0.10])
    stage_iv = (rng.random(n) < 0.92).astype(int)
    u = rng.random(n)
    smoking = np.where(is_nsclc, np.where(u < .15, "never", np.where(u < .75, "former", "current")),
                       np.where(u < .45, "never", np.where(u < .85, "former", "current")))

    nlr = np.clip(np.exp(rng.normal(np.log(4.3), 0.65, n)), 0.3, 80)
    lymph = np.clip(np.exp(rng.normal(np.log(1.2), 0.4, n)), 0.15, 8)
    albumin = np.clip(rng.normal(3.8, 0.45, n), 2.0, 5.0)
    platelets = np.clip(np.exp(rng.normal(np.log(250), 0.4, n)), 40, 1000)
    hgb = np.clip(rng.normal(11.7, 1.8, n), 6.5, 18)
    ldh = np.clip(np.exp(rng.normal(np.log(220), 0.45, n)), 80, 5000)
    return {"sex": sex, "age": age, "bmi": bmi, "ecog": ecog, "stage_iv": stage_iv,
            "smoking": smoking, "nlr": nlr, "lymphocytes": lymph, "neutrophils": nlr * lymph,
            "albumin": albumin, "platelets": platelets, "haemoglobin": hgb, "ldh": ldh}


def _draw_treatment(rng: np.random.Generator, code: np.ndarray) -> dict[str, np.ndarray]:
    """Prior therapy, drug class and drug, line of therapy and the ICI start (days offset)."""
    n = len(code)
    prior = (rng.random(n) < np.where(code == "MEL", 0.40, 0.74)).astype(int)
    p_combo = np.where(code == "MEL", 0.40, np.where(code == "RCC", 0.30, 0.11))
    p_ctla4 = np.where(code == "MEL", 0.08, 0.005)
    u = rng.random(n)
    drug_class = np.where(u < p_combo, "combination",
                          np.where(u < p_combo + p_ctla4, "CTLA-4", "PD-1/PD-L1"))
    pd1 = np.array(["pembrolizumab", "nivolumab", "atezolizumab", "durvalumab"])
    drug = np.where(drug_class == "combination", "nivolumab + ipilimumab",
                    np.where(drug_class == "CTLA-4", "ipilimumab",
                             pd1[rng.choice(4, n, p=[.45, .35, .12, .08])]))
    line = np.where(prior == 1, 2 + rng.poisson(0.5, n), 1)
    start_offset = rng.integers(0, START_DAYS, n)
    return {"prior_systemic_therapy": prior, "drug": drug, "drug_class": drug_class,
            "line": line, "start_offset": start_offset}


def _draw_genomics(rng: np.random.Generator,
                   cancer: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Latent drivers per gene, and MSI, POLE, BRCA, TMB and the null genomic covariates."""
    n = len(cancer)
    drivers = {g: rng.random(n) < per_code(DRIVER_PREVALENCE[g], 0.0)[cancer]
               for g in DRIVER_GENES}
    msi = rng.random(n) < per_code(MSI_PREVALENCE, 0.0)[cancer]
    pole = drivers["POLE"]
    brca = drivers["BRCA1"] | drivers["BRCA2"]
    tmb = np.exp(rng.normal(np.log(4.0), 0.95, n)) * per_code(TMB_FACTOR, 0.6)[cancer]
    tmb = np.where(msi, np.maximum(tmb * 6, 20), tmb)
    tmb = np.where(pole, np.maximum(tmb * 15, 80), tmb)
    tmb = np.minimum(np.where(brca, tmb * 1.4, tmb), 400.0)
    msi_score = np.where(msi, rng.uniform(10, 45, n),
                         np.clip(np.exp(rng.normal(np.log(0.3), 1.2, n)), 0, 9.9))
    fcna = rng.beta(1.1, 4.0, n)
    hed = np.clip(rng.normal(6.3, 2.0, n), 0, 11)
    hla_loh = (rng.random(n) < 0.12).astype(int)
    purity = np.clip(rng.beta(6, 5, n), 0.1, 0.95)
    texture = rng.normal(0, 1, n)
    return drivers, {"tmb_latent": tmb, "msi_h": msi, "msi_score": msi_score, "pole": pole,
                     "brca_carrier": brca, "fcna": fcna, "hed": hed, "hla_loh": hla_loh,
                     "tumour_purity": purity, "texture_z": texture}


def _design(clinical: dict[str, np.ndarray], treatment: dict[str, np.ndarray],
            genomics: dict[str, np.ndarray], drivers: dict[str, np.ndarray],
            code: np.ndarray) -> dict[str, np.ndarray]:
    """The terms of the true models (:data:`RESPONSE_COEF`, :data:`OS_COEF`, :data:`PFS_COEF`)."""
    n = len(code)
    is_nsclc = code == "NSCLC"
    ifn_loss = drivers["B2M"] | drivers["JAK1"] | drivers["JAK2"]
    return {
        "intercept": np.ones(n), "log1p_tmb": np.log1p(genomics["tmb_latent"]),
        "albumin_c": clinical["albumin"] - 3.8, "log_nlr_c": np.log(clinical["nlr"] / 4.0),
        "prior_therapy": treatment["prior_systemic_therapy"], "ecog": clinical["ecog"],
        "combination": (treatment["drug_class"] == "combination").astype(float),
        "msi_h": genomics["msi_h"].astype(float),
        "stk11_nsclc": (drivers["STK11"] & is_nsclc).astype(float),
        "keap1_nsclc": (drivers["KEAP1"] & is_nsclc).astype(float),
        "ifn_loss": ifn_loss.astype(float), "texture_z": genomics["texture_z"],
        "age10_c": (clinical["age"] - 63) / 10, "responder": np.zeros(n),
    }


def _draw_response(rng: np.random.Generator, x: dict[str, np.ndarray], cancer: np.ndarray,
                   centre: np.ndarray) -> dict[str, np.ndarray]:
    """True response probability, the drawn responder flag and the RECIST best response."""
    n = len(cancer)
    lp = sum(RESPONSE_COEF[k] * x[k] for k in RESPONSE_COEF)
    lp = lp + per_code(CANCER_RESPONSE_OFFSET, 0.0)[cancer]
    lp = lp + np.array([c.response_offset for c in CENTRES])[centre]
    p_resp = 1 / (1 + np.exp(-lp))
    responder = (rng.random(n) < p_resp).astype(int)
    u = rng.random(n)
    bor = np.where(responder == 1, np.where(u < .25, "CR", "PR"),
                   np.where(u < .40, "SD", np.where(u < .90, "PD", "NE")))
    return {"lp_response": lp, "p_response": p_resp, "responder": responder, "bor": bor}


def _draw_survival(rng: np.random.Generator, x: dict[str, np.ndarray], cancer: np.ndarray,
                   start_offset: np.ndarray, os_offset: float = 0.0,
                   pfs_offset: float = 0.0) -> dict[str, np.ndarray]:
    """Weibull OS and PFS times, censored at the data cut or by loss to follow-up.

    ``os_offset``/``pfs_offset``: a log-hazard added for every patient (the untreated arm's
    no-ICI effect; 0 for the treated network, where adding 0.0 changes no value).
    """
    n = len(cancer)
    eta_os = (sum(OS_COEF[k] * x[k] for k in OS_COEF) + per_code(CANCER_OS_LOGHR, 0.0)[cancer]
              + os_offset)
    eta_pfs = sum(PFS_COEF[k] * x[k] for k in PFS_COEF) + pfs_offset
    t_os = OS_SCALE * (rng.exponential(1.0, n) / np.exp(eta_os)) ** (1 / OS_SHAPE)
    t_prog = PFS_SCALE * (rng.exponential(1.0, n) / np.exp(eta_pfs)) ** (1 / PFS_SHAPE)
    t_pfs = np.minimum(t_prog, t_os)
    admin = (DATA_CUT - START_FIRST).days - start_offset
    censor = np.minimum(admin / (365.25 / 12), rng.exponential(LOSS_MEAN_MONTHS, n))
    os_months = np.minimum(t_os, censor)
    pfs_months = np.minimum(t_pfs, censor)
    return {"os_log_hazard": eta_os, "pfs_log_hazard": eta_pfs, "os_time_true": t_os,
            "pfs_time_true": t_pfs, "os_months": os_months,
            "os_event": (t_os <= censor).astype(int), "pfs_months": pfs_months,
            "pfs_event": (t_pfs <= censor).astype(int)}


_ID_STYLE = {
    "harbour": lambda i: f"P-{1000 + 7 * i:07d}",
    "lindenhof": lambda i: f"LH-{i + 1:05d}",
    "riverside": lambda i: f"RS{i + 1:04d}",
    "alpenrose": lambda i: f"AR_{2015 + i % 4}_{i + 1:04d}",
    "coastline": lambda i: f"C-{i + 1}",
    "meridian": lambda i: f"MER-{i + 1:04d}-A",
}


def _assign_assays_and_ids(df: pd.DataFrame, rng: np.random.Generator, first_id: int = 0) -> None:
    """Add source IDs, panel, sequencing and imaging assignments (in place).

    ``first_id`` shifts each centre's running number, so a later export of the same centres
    (new patients) never reuses an earlier export's source IDs: the same ID at the same centre
    is the same person, and gets the same pseudonym.
    """
    n = len(df)
    pid = np.empty(n, dtype=object)
    sid = np.empty(n, dtype=object)
    panel = np.empty(n, dtype=object)
    sequenced = np.zeros(n, dtype=bool)
    n_lesions = np.zeros(n, dtype=np.int64)
    within = np.zeros(n, dtype=np.int64)
    for k, spec in enumerate(CENTRES):
        idx = np.flatnonzero(df["centre_index"].to_numpy() == k)
        m = idx.size
        within[idx] = np.arange(m)
        ids = [_ID_STYLE[spec.name](first_id + i) for i in range(m)]
        pid[idx] = ids
        names = list(spec.panels)
        chosen = np.array(names, dtype=object)[rng.choice(len(names), m,
                                                          p=list(spec.panels.values()))]
        panel[idx] = chosen
        sequenced[idx] = rng.random(m) < spec.sequenced
        if spec.name == "harbour":
            suffix = np.where(chosen == "MSK-IMPACT468", "IM6", "IM3")
            sid[idx] = [f"{p}-T01-{s}" for p, s in zip(ids, suffix, strict=True)]
        else:
            sid[idx] = [f"{p}-S1" for p in ids]
        if spec.imaging:
            imaged = rng.random(m) < spec.imaged
            two = rng.random(m) < spec.two_lesions
            n_lesions[idx] = np.where(imaged, np.where(two, 2, 1), 0)
    df["source_patient_id"] = pid
    df["source_sample_id"] = np.where(sequenced, sid, None)  # type: ignore[call-overload]  # numpy's stubs reject None, a valid object scalar
    df["panel"] = np.where(sequenced, panel, None)  # type: ignore[call-overload]  # numpy's stubs reject None, a valid object scalar
    df["panel_size_mb"] = np.where(sequenced, [PANELS.get(p, np.nan) if p else np.nan
                                               for p in panel], np.nan).astype(float)
    df["sequenced"] = sequenced
    df["n_lesions"] = n_lesions
    df["within_index"] = within
