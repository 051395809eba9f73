"""The five column-map centres, each written in its own format, units and vocabularies."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.synthetic.formats import (
    Col,
    column_map,
    deterministic_xlsx,
    imaging_rows,
    imaging_tasks,
    maf_text,
    panel_gene_frame,
    render,
    scan_stem,
    write_text,
    yaml_dump,
)
from icipredict.synthetic.images import radiomics_rows


def write_lindenhof(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    """Lindenhof: one XLSX workbook (g/L, purity in %), a .maf.gz; returns the column map's name."""
    from openpyxl import Workbook

    clinical = [
        Col("patient_id", "Patient ID"), Col("sex", "Sex", values={"male": "M", "female": "F"}),
        Col("age", "Age at ICI start", unit="years"), Col("bmi", "BMI"),
        Col("ecog", "ECOG PS"),
        Col("smoking", "Smoking", values={"never": "never", "former": "ex-smoker",
                                          "current": "smoker"}),
        Col("cancer_type", "Tumour type"),
        Col("stage_iv", "Stage", values={1: "IV", 0: "III"}),
        Col("albumin", "Albumin (g/L)", unit="g/L", scale=10, decimals=0),
        Col("nlr", "NLR"), Col("platelets", "Platelets (10^9/L)", unit="10^9/L"),
        Col("haemoglobin", "Haemoglobin (g/L)", unit="g/L", scale=10, decimals=0),
        Col("ldh", "LDH (U/L)", unit="U/L"),
        Col("drug", "ICI drug"), Col("line", "Line"),
        Col("prior_systemic_therapy", "Prior chemotherapy", values={1: "yes", 0: "no"}),
        Col("start_date", "ICI start"),
        Col("bor", "Best response", values={"CR": "Complete response", "PR": "Partial response",
                                            "SD": "Stable disease", "PD": "Progressive disease",
                                            "NE": "Not evaluable"}),
        Col("os_months", "OS (months)", unit="months"), Col("os_event", "Death", event_value=1),
        Col("pfs_months", "PFS (months)", unit="months"),
        Col("pfs_event", "Progression or death", event_value=1),
    ]
    obs = obs.assign(**{"cancer_type": obs["cancer_label"]})
    clin_df, clin_map = render(obs, clinical)
    clin_df["ICI start"] = pd.to_datetime(clin_df["ICI start"]).dt.date
    seq = obs.loc[obs["sequenced"]].assign(panel="FoundationOne CDx")
    samples = [Col("sample_id", "Sample ID"), Col("patient_id", "Patient ID"),
               Col("panel", "Assay"), Col("tumour_purity", "Purity (%)", unit="%", scale=100,
                                          decimals=0),
               Col("msi_status", "MSI"), Col("tmb", "TMB (mut/Mb)", unit="mut/Mb")]
    samp_df, samp_map = render(seq, samples)
    imaging = [Col("patient_id", "Patient ID"), Col("lesion_id", "Lesion"),
               Col("modality", "Modality"), Col("image_uri", "Image file"),
               Col("mask_uri", "Mask file")]
    img_df, img_map = render(imaging_rows(obs), imaging)
    genes = panel_gene_frame(["FoundationOneCDx"]).assign(panel="FoundationOne CDx")

    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in (("Clinical", clin_df), ("Samples", samp_df), ("Imaging", img_df),
                         ("Panel genes", genes)):
        ws = wb.create_sheet(title)
        ws.append(list(frame.columns))
        for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
            ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    (folder / "lindenhof_ici.xlsx").write_bytes(deterministic_xlsx(buf.getvalue()))
    write_text(folder / "lindenhof_mutations.maf.gz", maf_text(maf, "lindenhof", False), gz=True)
    files = [
        {"path": "lindenhof_ici.xlsx", "sheet": "Clinical", "columns": clin_map},
        {"path": "lindenhof_ici.xlsx", "sheet": "Samples", "columns": samp_map},
        {"path": "lindenhof_ici.xlsx", "sheet": "Imaging", "columns": img_map},
    ]
    cmap = column_map("lindenhof_ici", "lindenhof",
                      "Lindenhof ICI registry export (XLSX). Albumin and haemoglobin in g/L; "
                      "tumour purity in %. Sheet 'Panel genes' lists the FoundationOne CDx genes. "
                      "Image and mask paths are relative to this file's folder.",
                      files, "lindenhof_mutations.maf.gz")
    yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def write_riverside(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    """Riverside: CSV files with survival in days, a MAF with a #version line; the column map."""
    days = 365.25 / 12
    clinical = [
        Col("patient_id", "patient"), Col("sex", "gender"), Col("age", "age"),
        Col("bmi", "bmi"), Col("ecog", "ecog"), Col("smoking", "smoking_status"),
        Col("cancer_type", "histology"), Col("stage_iv", "stage_iv"),
        Col("albumin", "alb_gdl", unit="g/dL"), Col("nlr", "nlr"), Col("platelets", "plt"),
        Col("haemoglobin", "hgb", unit="g/dL"), Col("ldh", "ldh", unit="U/L"),
        Col("drug", "regimen"), Col("line", "line"),
        Col("prior_systemic_therapy", "prior_systemic"), Col("start_date", "start_date"),
        Col("bor", "recist_bor"),
        Col("os_months", "os_days", unit="days", scale=days, decimals=0),
        Col("os_event", "os_event", event_value=1),
        Col("pfs_months", "pfs_days", unit="days", scale=days, decimals=0),
        Col("pfs_event", "pfs_event", event_value=1),
    ]
    clin_df, clin_map = render(obs, clinical)
    clin_df["pfs_days"] = np.minimum(clin_df["pfs_days"], clin_df["os_days"])
    seq = obs.loc[obs["sequenced"]]
    samples = [Col("sample_id", "sample"), Col("patient_id", "patient"), Col("panel", "assay"),
               Col("tumour_purity", "purity", unit="fraction"), Col("msi_status", "msi")]
    samp_df, samp_map = render(seq, samples)
    imaging = [Col("patient_id", "patient"), Col("lesion_id", "lesion"),
               Col("modality", "modality"), Col("image_uri", "image"), Col("mask_uri", "mask")]
    img_df, img_map = render(imaging_rows(obs), imaging)
    for name, frame in (("clinical.csv", clin_df), ("samples.csv", samp_df),
                        ("imaging.csv", img_df), ("panel_genes.csv", panel_gene_frame(["TSO500"]))):
        write_text(folder / name, frame.to_csv(index=False, lineterminator="\n"))
    write_text(folder / "riverside.maf", maf_text(maf, "riverside", version_line=True))
    files = [{"path": "clinical.csv", "columns": clin_map},
             {"path": "samples.csv", "columns": samp_map},
             {"path": "imaging.csv", "columns": img_map}]
    cmap = column_map("riverside_ici", "riverside",
                      "Riverside thoracic-oncology export (CSV). Survival times in DAYS. "
                      "Image and mask paths are relative to this file's folder; "
                      "panel_genes.csv lists the TSO500 genes.", files, "riverside.maf")
    yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def write_alpenrose(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame, seed: int) -> str:
    """Alpenrose: TSV files, counts instead of NLR, censoring flags, precomputed radiomics."""
    names = {"NSCLC": "Non-small cell lung cancer", "MEL": "Cutaneous melanoma",
             "BLCA": "Bladder cancer", "BRCA": "Breast cancer", "COADREAD": "Colorectal cancer",
             "UCEC": "Endometrial cancer", "HNSC": "Head and neck cancer",
             "RCC": "Renal cell carcinoma", "SCLC": "Small cell lung cancer",
             "OV": "Ovarian cancer", "SARC": "Soft tissue sarcoma", "STAD": "Gastric cancer",
             "CUP": "Cancer of unknown primary"}
    obs = obs.assign(cancer_type=obs["cancer_type"].map(lambda c: names.get(c, c)))
    clinical = [
        Col("patient_id", "pid"), Col("sex", "sex", values={"male": 1, "female": 2}),
        Col("age", "age_years", unit="years"), Col("ecog", "ecog"),
        Col("cancer_type", "diagnosis"),
        Col("neutrophils", "neutrophils_abs", unit="10^9/L"),
        Col("lymphocytes", "lymphocytes_abs", unit="10^9/L"),
        Col("albumin", "albumin", unit="g/dL"), Col("drug", "drug"),
        Col("prior_systemic_therapy", "prior_systemic_tx", values={1: "yes", 0: "no"}),
        Col("start_date", "ici_start"), Col("bor", "bor"),
        Col("os_months", "os_mo", unit="months"), Col("os_event", "os_censored", event_value=0),
        Col("pfs_months", "pfs_mo", unit="months"),
        Col("pfs_event", "pfs_censored", event_value=0),
    ]
    clin_df, clin_map = render(obs, clinical)
    seq = obs.loc[obs["sequenced"]].assign(panel="WES")
    samples = [Col("sample_id", "sample_id"), Col("patient_id", "pid"),
               Col("panel", "platform"), Col("tmb", "tmb_per_mb", unit="mut/Mb")]
    samp_df, samp_map = render(seq, samples)
    rows = imaging_rows(obs)
    imaging = [Col("patient_id", "pid"), Col("lesion_id", "lesion"),
               Col("modality", "modality"), Col("radiomics_uri", "radiomics_file")]
    img_df, img_map = render(rows, imaging)
    (folder / "radiomics").mkdir(exist_ok=True)
    tasks = imaging_tasks(obs, seed, None)
    for task in tasks:
        for k, feats in enumerate(radiomics_rows(task), start=1):
            text = "feature,value\n" + "".join(f"{f},{v:.6g}\n" for f, v in feats.items())
            write_text(folder / "radiomics" / f"{scan_stem(task.patient_index)}_L{k}.csv", text)
    for name, frame in (("clinical.tsv", clin_df), ("samples.tsv", samp_df),
                        ("imaging.tsv", img_df)):
        write_text(folder / name, frame.to_csv(sep="\t", index=False, lineterminator="\n"))
    write_text(folder / "alpenrose_wes.maf.gz", maf_text(maf, "alpenrose", False), gz=True)
    files = [{"path": "clinical.tsv", "columns": clin_map},
             {"path": "samples.tsv", "columns": samp_map},
             {"path": "imaging.tsv", "columns": img_map}]
    cmap = column_map("alpenrose_ici", "alpenrose",
                      "Alpenrose export (TSV). Neutrophil and lymphocyte counts (no NLR); event "
                      "columns are CENSORING flags (1 = censored). Whole-exome sequencing. "
                      "Radiomics are precomputed per lesion (radiomics/scanNNNNN_<lesion>.csv, "
                      "columns feature,value; pyradiomics names), paths relative to this folder.",
                      files, "alpenrose_wes.maf.gz")
    yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def write_coastline(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    """Coastline: Parquet files, binary responder and drug class only; the column map."""
    clinical = [
        Col("patient_id", "PatientID"), Col("sex", "Sex", values={"male": 1, "female": 0}),
        Col("age", "Age"), Col("bmi", "BMI"), Col("cancer_type", "CancerType"),
        Col("stage_iv", "Stage"), Col("albumin", "Albumin", unit="g/dL"), Col("nlr", "NLR"),
        Col("platelets", "Platelets"), Col("haemoglobin", "HGB", unit="g/dL"),
        Col("drug_class", "Drug_class", values={"PD-1/PD-L1": "PD1/PDL1", "CTLA-4": "CTLA4",
                                                "combination": "Combo"}),
        Col("prior_systemic_therapy", "Chemo_before_IO"),
        Col("responder", "Response"),
        Col("os_months", "OS_Months", unit="months"), Col("os_event", "OS_Event", event_value=1),
        Col("pfs_months", "PFS_Months", unit="months"),
        Col("pfs_event", "PFS_Event", event_value=1),
    ]
    obs = obs.assign(cancer_type=obs["cancer_label"])
    clin_df, clin_map = render(obs, clinical)
    seq = obs.loc[obs["sequenced"]].assign(panel="MSK-IMPACT410")
    samples = [Col("sample_id", "SampleID"), Col("patient_id", "PatientID"),
               Col("panel", "Panel"), Col("tmb", "TMB", unit="mut/Mb"), Col("fcna", "FCNA"),
               Col("hed", "HED"), Col("hla_loh", "HLA_LOH"), Col("msi_score", "MSI_SCORE"),
               Col("msi_status", "MSI", values={"MSI-H": 1, "MSS": 0})]
    samp_df, samp_map = render(seq, samples)
    imaging = [Col("patient_id", "PatientID"), Col("lesion_id", "LesionID"),
               Col("modality", "Modality"), Col("image_uri", "ImagePath"),
               Col("mask_uri", "MaskPath")]
    img_df, img_map = render(imaging_rows(obs), imaging)
    for name, frame in (("clinical.parquet", clin_df), ("samples.parquet", samp_df),
                        ("imaging.parquet", img_df),
                        ("panel_genes.parquet", panel_gene_frame(["MSK-IMPACT410"]))):
        frame.to_parquet(folder / name, index=False)
    write_text(folder / "coastline.maf", maf_text(maf, "coastline", version_line=False))
    files = [{"path": "clinical.parquet", "columns": clin_map},
             {"path": "samples.parquet", "columns": samp_map},
             {"path": "imaging.parquet", "columns": img_map}]
    cmap = column_map("coastline_ici", "coastline",
                      "Coastline GI-oncology export (Parquet). Binary responder only (no "
                      "RECIST); drug class only. Image and mask paths are relative to this "
                      "file's folder.", files, "coastline.maf")
    yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"


def write_meridian(folder: Path, obs: pd.DataFrame, maf: pd.DataFrame) -> str:
    """Meridian: CSV files, a fifth of the patients not sequenced, a .maf.gz; the column map."""
    clinical = [
        Col("patient_id", "Patient_Ref"), Col("sex", "Sex"), Col("age", "Age_at_start"),
        Col("bmi", "BMI"), Col("ecog", "ECOG"), Col("smoking", "Smoker"),
        Col("cancer_type", "Primary_site_code"),
        Col("stage_iv", "Metastatic", values={1: "yes", 0: "no"}),
        Col("albumin", "Albumin_g_dl", unit="g/dL"), Col("nlr", "NLR"),
        Col("platelets", "Platelets"), Col("ldh", "LDH", unit="U/L"),
        Col("drug", "Agent"), Col("line", "Line"),
        Col("prior_systemic_therapy", "Prior_therapy"), Col("start_date", "Start"),
        Col("bor", "BOR"), Col("os_months", "OS_months", unit="months"),
        Col("os_event", "Dead", event_value=1), Col("pfs_months", "PFS_months", unit="months"),
        Col("pfs_event", "Progressed", event_value=1),
    ]
    clin_df, clin_map = render(obs, clinical)
    seq = obs.loc[obs["sequenced"]].assign(panel="F1CDx")
    samples = [Col("sample_id", "Specimen"), Col("patient_id", "Patient_Ref"),
               Col("panel", "Test"), Col("msi_status", "MSI_status"),
               Col("tumour_purity", "Purity", unit="fraction")]
    samp_df, samp_map = render(seq, samples)
    imaging = [Col("patient_id", "Patient_Ref"), Col("lesion_id", "Lesion"),
               Col("modality", "Modality"), Col("image_uri", "CT"), Col("mask_uri", "Segmentation")]
    img_df, img_map = render(imaging_rows(obs), imaging)
    for name, frame in (("clinical.csv", clin_df), ("samples.csv", samp_df),
                        ("imaging.csv", img_df),
                        ("panel_genes.csv", panel_gene_frame(["FoundationOneCDx"]))):
        write_text(folder / name, frame.to_csv(index=False, lineterminator="\n"))
    write_text(folder / "meridian.maf.gz", maf_text(maf, "meridian", False), gz=True)
    files = [{"path": "clinical.csv", "columns": clin_map},
             {"path": "samples.csv", "columns": samp_map},
             {"path": "imaging.csv", "columns": img_map}]
    cmap = column_map("meridian_ici", "meridian",
                      "Meridian GU/gynae-oncology export (CSV). About 20% of patients were not "
                      "sequenced (no sample row). Image and mask paths are relative to this "
                      "file's folder.", files, "meridian.maf.gz")
    yaml_dump(folder / "column_map.yaml", cmap)
    return "column_map.yaml"
