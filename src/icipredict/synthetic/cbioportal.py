"""The harbour centre: a cBioPortal study folder (clinical files, MAF, gene panels, meta files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.synthetic.formats import maf_text, write_text
from icipredict.synthetic.genes import panel_genes

STUDY = "harbour_ici_2019"
#: Synthetic panel -> cBioPortal gene panel stable ID.
CBIO_PANELS = {"MSK-IMPACT468": "IMPACT468", "MSK-IMPACT341": "IMPACT341"}

PATIENT_ATTRIBUTES = [
    ("PATIENT_ID", "Patient Identifier", "STRING"), ("SEX", "Sex", "STRING"),
    ("AGE", "Age at ICI start", "NUMBER"), ("BMI", "Body mass index", "NUMBER"),
    ("ECOG", "ECOG performance status", "NUMBER"),
    ("SMOKING_HISTORY", "Smoking history", "STRING"), ("STAGE", "Stage at ICI start", "STRING"),
    ("ALBUMIN", "Albumin (g/dL)", "NUMBER"), ("NLR", "Neutrophil-to-lymphocyte ratio", "NUMBER"),
    ("PLATELETS", "Platelets (10^9/L)", "NUMBER"), ("HGB", "Haemoglobin (g/dL)", "NUMBER"),
    ("DRUG", "ICI drug", "STRING"), ("DRUG_TYPE", "ICI drug class", "STRING"),
    ("LINE_OF_THERAPY", "Line of therapy", "NUMBER"),
    ("PRIOR_SYSTEMIC_THERAPY", "Systemic therapy before ICI", "STRING"),
    ("ICI_START_DATE", "ICI start date", "STRING"),
    ("BEST_OVERALL_RESPONSE", "RECIST best overall response", "STRING"),
    ("OS_STATUS", "Overall survival status", "STRING"),
    ("OS_MONTHS", "Overall survival (months)", "NUMBER"),
    ("PFS_STATUS", "Progression-free survival status", "STRING"),
    ("PFS_MONTHS", "Progression-free survival (months)", "NUMBER"),
]
SAMPLE_ATTRIBUTES = [
    ("SAMPLE_ID", "Sample Identifier", "STRING"), ("PATIENT_ID", "Patient Identifier", "STRING"),
    ("CANCER_TYPE", "Cancer Type", "STRING"), ("ONCOTREE_CODE", "Oncotree Code", "STRING"),
    ("SAMPLE_TYPE", "Sample Type", "STRING"),
    ("TMB_NONSYNONYMOUS", "TMB (nonsynonymous)", "NUMBER"),
    ("MSI_SCORE", "MSI Score", "NUMBER"), ("MSI_TYPE", "MSI Type", "STRING"),
    ("FRACTION_GENOME_ALTERED", "Fraction Genome Altered", "NUMBER"),
]


def write_cbioportal(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame,
                     cna: pd.DataFrame | None = None) -> str:
    """Write the harbour study into ``folder``; returns the source path relative to it (".").

    ``cna`` (cBioPortal's wide ``DISCRETE`` layout) is written as ``data_cna.txt`` with its meta
    file when given.
    """
    write_text(folder / "data_clinical_patient.txt",
               _cbio_clinical(_patient_frame(obs), PATIENT_ATTRIBUTES))
    s = _sample_frame(obs)
    write_text(folder / "data_clinical_sample.txt", _cbio_clinical(s, SAMPLE_ATTRIBUTES))
    write_text(folder / "data_mutations_extended.txt",
               maf_text(maf, "harbour", version_line=False))
    for panel, stable in CBIO_PANELS.items():
        genes = "\t".join(panel_genes(panel))
        write_text(folder / f"data_gene_panel_{stable}.txt",
                   f"stable_id: {stable}\ndescription: synthetic {panel} panel "
                   f"({len(panel_genes(panel))} genes)\ngene_list: {genes}\n")
    matrix = pd.DataFrame({"SAMPLE_ID": s["SAMPLE_ID"], "mutations": s["panel"].map(CBIO_PANELS)})
    write_text(folder / "data_gene_panel_matrix.txt",
               matrix.to_csv(sep="\t", index=False, lineterminator="\n"))
    meta = _meta_files(STUDY)
    if cna is not None:
        write_text(folder / "data_cna.txt", cna.to_csv(sep="\t", index=False, lineterminator="\n"))
        meta["meta_CNA.txt"] = {
            "cancer_study_identifier": STUDY, "genetic_alteration_type": "COPY_NUMBER_ALTERATION",
            "datatype": "DISCRETE", "stable_id": "gistic", "show_profile_in_analysis_tab": "true",
            "profile_name": "Putative copy-number alterations from GISTIC",
            "profile_description": "Discrete copy-number calls of the HR genes (synthetic): "
                                   "-2 deep deletion, -1 shallow deletion, 0 diploid, 1 gain",
            "data_filename": "data_cna.txt"}
    for name, fields in meta.items():
        write_text(folder / name, "".join(f"{k}: {v}\n" for k, v in fields.items()))
    (folder / "case_lists").mkdir(exist_ok=True)
    write_text(folder / "case_lists" / "cases_sequenced.txt",
               "".join(f"{k}: {v}\n" for k, v in _sequenced_case_list(STUDY, s).items()))
    return "."


def _sequenced_case_list(study: str, samples: pd.DataFrame) -> dict[str, str]:
    """cBioPortal's ``_sequenced`` case list: every sample written was profiled for mutations."""
    ids = samples["SAMPLE_ID"].astype(str).tolist()
    return {"cancer_study_identifier": study, "stable_id": f"{study}_sequenced",
            "case_list_name": "Samples with mutation data",
            "case_list_description": f"Samples with mutation data ({len(ids)} samples)",
            "case_list_category": "all_cases_with_mutation_data",
            "case_list_ids": "\t".join(ids)}


def _cbio_clinical(df: pd.DataFrame, attrs: list[tuple[str, str, str]]) -> str:
    """cBioPortal clinical file: 4 '#' header lines (names, descriptions, types, priorities)."""
    cols = [a[0] for a in attrs]
    head = ["#" + "\t".join(a[1] for a in attrs), "#" + "\t".join(a[1] for a in attrs),
            "#" + "\t".join(a[2] for a in attrs), "#" + "\t".join("1" for _ in attrs)]
    body = df[cols].to_csv(sep="\t", index=False, lineterminator="\n", na_rep="NA")
    return "\n".join(head) + "\n" + body


def _patient_frame(obs: pd.DataFrame) -> pd.DataFrame:
    """Observed patients with cBioPortal's attribute names and value conventions."""
    p = obs.copy()
    p["SEX"] = p["sex"].str.capitalize()
    p["SMOKING_HISTORY"] = p["smoking"].str.capitalize()
    p["STAGE"] = np.where(p["stage_iv"] == 1, "IV", "I-III")
    p["PRIOR_SYSTEMIC_THERAPY"] = np.where(p["prior_systemic_therapy"] == 1, "Yes", "No")
    p["DRUG_TYPE"] = p["drug_class"].map({"PD-1/PD-L1": "PD-1/PDL-1", "CTLA-4": "CTLA4",
                                          "combination": "Combo"})
    p["OS_STATUS"] = np.where(p["os_event"] == 1, "1:DECEASED", "0:LIVING")
    p["PFS_STATUS"] = np.where(p["pfs_event"] == 1, "1:PROGRESSION", "0:CENSORED")
    return p.rename(columns={"patient_id": "PATIENT_ID", "age": "AGE", "bmi": "BMI",
                             "ecog": "ECOG", "albumin": "ALBUMIN", "nlr": "NLR",
                             "platelets": "PLATELETS", "haemoglobin": "HGB", "drug": "DRUG",
                             "line": "LINE_OF_THERAPY", "start_date": "ICI_START_DATE",
                             "bor": "BEST_OVERALL_RESPONSE", "os_months": "OS_MONTHS",
                             "pfs_months": "PFS_MONTHS"})


def _sample_frame(obs: pd.DataFrame) -> pd.DataFrame:
    """The sequenced patients' samples with cBioPortal's attribute names."""
    s = obs.loc[obs["sequenced"]].copy()
    s["MSI_TYPE"] = np.where(s["msi_h"], "Instable", "Stable")
    s["SAMPLE_TYPE"] = np.where(s["within_index"] % 3 == 0, "Primary", "Metastasis")
    return s.rename(columns={"sample_id": "SAMPLE_ID", "patient_id": "PATIENT_ID",
                             "cancer_label": "CANCER_TYPE", "oncotree": "ONCOTREE_CODE",
                             "tmb": "TMB_NONSYNONYMOUS", "msi_score": "MSI_SCORE",
                             "fcna": "FRACTION_GENOME_ALTERED"})


def _meta_files(study: str) -> dict[str, dict[str, str]]:
    """File name -> the ``key: value`` fields of each meta file of the study."""
    return {
        "meta_study.txt": {"type_of_cancer": "mixed", "cancer_study_identifier": study,
                           "name": "Harbour ICI cohort (synthetic)",
                           "description": "Synthetic ICI-treated patients, icipredict generator",
                           "short_name": "Harbour ICI", "add_global_case_list": "true"},
        "meta_clinical_patient.txt": {"cancer_study_identifier": study,
                                      "genetic_alteration_type": "CLINICAL",
                                      "datatype": "PATIENT_ATTRIBUTES",
                                      "data_filename": "data_clinical_patient.txt"},
        "meta_clinical_sample.txt": {"cancer_study_identifier": study,
                                     "genetic_alteration_type": "CLINICAL",
                                     "datatype": "SAMPLE_ATTRIBUTES",
                                     "data_filename": "data_clinical_sample.txt"},
        "meta_mutations_extended.txt": {
            "cancer_study_identifier": study, "genetic_alteration_type": "MUTATION_EXTENDED",
            "datatype": "MAF", "stable_id": "mutations", "show_profile_in_analysis_tab": "true",
            "profile_name": "Mutations", "profile_description": "Somatic mutations (synthetic)",
            "data_filename": "data_mutations_extended.txt"},
        "meta_gene_panel_matrix.txt": {
            "cancer_study_identifier": study, "genetic_alteration_type": "GENE_PANEL_MATRIX",
            "datatype": "GENE_PANEL_MATRIX", "data_filename": "data_gene_panel_matrix.txt"},
    }
