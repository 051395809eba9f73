"""BRCA registry analyses on a generated network: classes, co-alterations, TMB, outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icipredict.cohort.brca import analyse
from icipredict.cohort.brca.outcomes import MIN_CELL, wilson_ci


def network(seed: int = 0) -> dict[str, pd.DataFrame]:
    """Centres A (40 patients) and B (12): known classes by construction.

    A: P0-9 frameshift + CNA -1 (biallelic), P10-19 frameshift, CNA 0 (monoallelic),
    P20-24 VUS, P25-39 nothing; B: B0-2 frameshift (no CNA: unknown), B3-11 nothing;
    B11 not sequenced. PALB2 mutated in P25 and P0.
    """
    rng = np.random.default_rng(seed)
    pa = [f"P{i}" for i in range(40)]
    pb = [f"B{i}" for i in range(12)]
    patients = pd.DataFrame({"centre": ["A"] * 40 + ["B"] * 12, "patient_id": pa + pb,
                             "cancer_type": "NSCLC"})
    samples = patients.assign(sample_id="S" + patients["patient_id"],
                              panel="IMPACT468", tmb=rng.uniform(1, 20, 52),
                              msi_status="MSS")
    samples.loc[samples["patient_id"] == "B11", ["panel", "tmb", "msi_status"]] = None
    samples = samples.drop(columns=["cancer_type"])
    fs = [f"P{i}" for i in range(20)] + ["B0", "B1", "B2"]
    mut = pd.DataFrame({"centre": ["A"] * 20 + ["B"] * 3, "sample_id": ["S" + p for p in fs],
                        "hugo_symbol": "BRCA2", "variant_classification": "Frame_Shift_Del",
                        "hgvsp_short": "p.K1000fs", "vaf": 0.4})
    vus = pd.DataFrame({"centre": "A", "sample_id": [f"SP{i}" for i in range(20, 25)],
                        "hugo_symbol": "BRCA1", "variant_classification": "Missense_Mutation",
                        "hgvsp_short": "p.A2V", "vaf": 0.3})
    palb2 = pd.DataFrame({"centre": "A", "sample_id": ["SP25", "SP0"], "hugo_symbol": "PALB2",
                          "variant_classification": "Nonsense_Mutation",
                          "hgvsp_short": "p.R170*", "vaf": 0.3})
    cna = pd.DataFrame({"centre": "A", "sample_id": [f"SP{i}" for i in range(40)],
                        "hugo_symbol": "BRCA2", "cna": [-1] * 10 + [0] * 30})
    outcomes = patients[["centre", "patient_id"]].assign(
        responder=rng.integers(0, 2, 52), os_months=rng.uniform(1, 40, 52),
        os_event=rng.integers(0, 2, 52), pfs_months=rng.uniform(1, 20, 52),
        pfs_event=rng.integers(0, 2, 52))
    return {"patients": patients, "samples": samples,
            "mutations": pd.concat([mut, vus, palb2], ignore_index=True),
            "germline_mutations": pd.DataFrame(columns=mut.columns), "cna": cna,
            "treatments": patients[["centre", "patient_id"]].assign(drug_class="PD-1/PD-L1",
                                                                    line=1),
            "outcomes": outcomes, "panel_genes": pd.DataFrame(columns=["panel", "hugo_symbol"])}


def test_patient_classes_match_construction() -> None:
    a = analyse(network())
    cls = a.patients.set_index("patient_id")["brca_class"]
    assert (cls[[f"P{i}" for i in range(10)]] == "pathogenic_biallelic").all()
    assert (cls[[f"P{i}" for i in range(10, 20)]] == "pathogenic_mono_unknown").all()
    assert (cls[["B0", "B1", "B2"]] == "pathogenic_mono_unknown").all()
    assert (cls[[f"P{i}" for i in range(20, 25)]] == "vus").all()
    assert cls["P30"] == "none" and cls["B11"] == "not_profiled"
    co = a.co_alterations.set_index("gene")
    # one PALB2 patient per class: a cell of 1 is suppressed; no ATM alteration: 0 shown
    assert pd.isna(co.loc["PALB2", "none"]) and pd.isna(co.loc["PALB2", "pathogenic_biallelic"])
    assert co.loc["ATM", "none"] == 0 and co.loc["PALB2", "none_n"] == 15 + 8
    tm = a.tmb_msi.set_index("group")
    assert tm.loc["pathogenic_all", "patients"] == 23 and tm.loc["pathogenic_all", "tmb_n"] == 23
    assert 0 <= tm.loc["carriers_vs_none", "p_value"] <= 1
    assert not tm["suppressed"].any()
    small = {k: v.copy() for k, v in network().items()}
    small["mutations"] = small["mutations"].iloc[[0, 1, 2]]  # 3 pathogenic carriers only
    small["cna"] = small["cna"].iloc[:0]
    tm = analyse(small).tmb_msi.set_index("group")
    assert tm.loc["pathogenic_all", "suppressed"] and pd.isna(tm.loc["pathogenic_all", "tmb_n"])
    assert pd.isna(tm.loc["carriers_vs_none", "p_value"])


def test_outcomes_counts_orr_ci_and_suppression() -> None:
    tables = network()
    a = analyse(tables)
    out = a.outcomes.set_index(["centre", "brca_class"])
    pooled = out.loc[("all", "pathogenic_biallelic")]
    assert pooled["patients"] == 10 and pooled["centres"] == 1 and not pooled["suppressed"]
    resp = tables["outcomes"].set_index("patient_id").loc[[f"P{i}" for i in range(10)],
                                                          "responder"]
    assert pooled["responders"] == resp.sum()
    assert (pooled["orr_low"], pooled["orr_high"]) == pytest.approx(wilson_ci(resp.sum(), 10))
    # centre B: 3 pathogenic (unknown second hit) -> suppressed; 8 'none' shown
    b = out.loc[("B", "pathogenic_mono_unknown")]
    assert b["suppressed"] and pd.isna(b["patients"]) and pd.isna(b["orr"])
    assert out.loc[("B", "none"), "patients"] == 8
    assert out.loc[("all", "pathogenic_mono_unknown"), "patients"] == 13
    assert out.loc[("all", "pathogenic_mono_unknown"), "centres"] == 2
    assert 0 < out.loc[("all", "none"), "os_logrank_p"] <= 1
    assert MIN_CELL == 5


def test_wilson_ci_known_values() -> None:
    lo, hi = wilson_ci(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_ci(0, 10)[0] == 0.0
    assert np.isnan(wilson_ci(0, 0)[0])
