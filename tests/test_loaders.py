"""Loaders: real-cohort column maps (golden counts), MAF, cBioPortal folders, column maps, dispatch."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from icipredict.cohort.loaders import load_cbioportal, load_column_map, load_maf, load_source
from icipredict.cohort.schema import SOURCE_ROW, CohortError

REPO = Path(__file__).resolve().parents[1]
MAPS = REPO / "experiments" / "cohorts"

# Independent reference: the files' 16 cancer-type labels and their OncoTree codes.
LABEL_TO_CODE = {
    "NSCLC": "NSCLC", "Melanoma": "MEL", "Renal": "RCC", "Bladder": "BLCA",
    "Head & Neck": "HNSC", "Sarcoma": "SARC", "Endometrial": "UCEC", "Gastric": "STAD",
    "Hepatobiliary": "HB", "SCLC": "SCLC", "Colorectal": "COADREAD", "Esophageal": "ESCA",
    "Pancreatic": "PAAD", "Mesothelioma": "MESO", "Ovarian": "OV", "Breast": "BRCA",
}
# map stem -> (response column, cancer-type label column) in the CSV
GOLDEN = {
    "chowell2022_train": ("Response (1:Responder; 0:Non-responder)", "Cancer_type_grouped_2"),
    "chowell2022_test": ("Response (1:Responder; 0:Non-responder)", "Cancer_type_grouped_2"),
    "loris_year_split_train": ("Response", "CancerType"),
    "loris_year_split_test": ("Response", "CancerType"),
}


# ------------------------------------------------------------------------------------------
# Golden: the real cohort through its column maps
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_real_cohort_maps_reproduce_file_counts(stem: str, chowell_dir: Path) -> None:
    response_col, type_col = GOLDEN[stem]
    csv = pd.read_csv(chowell_dir / f"{stem}.csv")
    cohort = load_column_map(MAPS / f"{stem}.yaml", data_dir=chowell_dir.parent.parent)
    frame = cohort.frame()

    assert len(cohort.patients) == len(csv)
    assert cohort.patients["patient_id"].is_unique
    assert set(cohort.patients["centre"]) == {"MSK"}
    assert int(frame["responder"].sum()) == int((csv[response_col] == 1).sum())
    assert int(frame["os_event"].sum()) == int((csv["OS_Event"] == 1).sum())
    assert int(frame["pfs_event"].sum()) == int((csv["PFS_Event"] == 1).sum())
    assert frame["responder"].notna().all() and frame["os_event"].notna().all()
    expected_types = csv[type_col].map(LABEL_TO_CODE).value_counts().sort_index()
    got_types = cohort.patients["cancer_type"].value_counts().sort_index()
    pd.testing.assert_series_equal(got_types, expected_types, check_names=False)
    # values pass through in canonical units (all source units are already canonical here)
    np.testing.assert_allclose(frame["albumin"], csv["Albumin"])
    np.testing.assert_allclose(frame["os_months"], csv["OS_Months"])
    np.testing.assert_allclose(frame["tmb"], csv["TMB"])
    # the panel is MSK-IMPACT of unknown version: the size must stay missing, not guessed
    assert set(cohort.samples["panel"]) == {"MSK-IMPACT"}
    assert cohort.samples["panel_size_mb"].isna().all()
    # source rows point at the CSV lines (header = line 1)
    assert cohort.patients[SOURCE_ROW].tolist() == list(range(2, len(csv) + 2))


def test_loris_drug_coding_matches_chowell_drug_class(chowell_dir: Path) -> None:
    """LORIS Drug 0/1/2 decodes to the same class Chowell gives the same patient."""
    data = chowell_dir.parent.parent
    chowell = pd.concat([load_column_map(MAPS / f"chowell2022_{s}.yaml", data_dir=data).frame()
                         for s in ("train", "test")])
    loris = pd.concat([load_column_map(MAPS / f"loris_year_split_{s}.yaml", data_dir=data).frame()
                       for s in ("train", "test")])
    key = ["age", "tmb", "os_months"]
    for df in (chowell, loris):
        df["key"] = df[key].round(5).astype(str).agg("_".join, axis=1)
    merged = chowell.merge(loris, on="key", suffixes=("_c", "_l"))
    assert len(merged) == 1479
    assert (merged["drug_class_c"] == merged["drug_class_l"]).all()
    assert (merged["prior_systemic_therapy_c"] == merged["prior_systemic_therapy_l"]).all()
    assert (merged["msi_status_c"] == merged["msi_status_l"]).all()


def test_loris_ids_are_prefixed_so_splits_do_not_collide(chowell_dir: Path) -> None:
    data = chowell_dir.parent.parent
    ids = [set(load_column_map(MAPS / f"loris_year_split_{s}.yaml", data_dir=data)
               .patients["patient_id"]) for s in ("train", "test")]
    assert not ids[0] & ids[1]


def test_shared_data_env_overrides_map_paths(chowell_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # a copy of the map elsewhere: its ../../../shared/data path no longer exists from there
    moved = tmp_path / "a" / "b" / "map.yaml"
    moved.parent.mkdir(parents=True)
    moved.write_text((MAPS / "chowell2022_test.yaml").read_text())
    with pytest.raises(CohortError, match="not found"):
        load_column_map(moved)
    monkeypatch.setenv("ICIPREDICT_SHARED_DATA", str(chowell_dir.parent.parent))
    assert len(load_column_map(moved).patients) == 295


# ------------------------------------------------------------------------------------------
# MAF
# ------------------------------------------------------------------------------------------

MAF_HEADER = ["Hugo_Symbol", "Chromosome", "Start_Position", "Variant_Classification",
              "Reference_Allele", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode", "HGVSp_Short",
              "t_ref_count", "t_alt_count"]
MAF_ROWS = [
    ["BRCA1", "17", "43045712", "Missense_Mutation", "C", "T", "S1", "p.R1443G", "30", "10"],
    ["TP53", "17", "7673802", "Nonsense_Mutation", "G", "A", "S1", "p.R213*", "0", "0"],
    ["BRCA2", "13", "32340301", "Frame_Shift_Del", "A", "-", "S2", "p.K1000fs", "50", "50"],
]


def write_maf(path: Path, rows=MAF_ROWS, header=MAF_HEADER, comments=("#version 2.4",)) -> Path:
    lines = [*comments, "\t".join(header), *("\t".join(r) for r in rows)]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["small.maf", "small.maf.gz", "data_mutations_extended.txt"])
def test_load_maf_canonical_columns_and_vaf_from_counts(tmp_path: Path, name: str) -> None:
    muts = load_maf(write_maf(tmp_path / name))
    assert muts["sample_id"].tolist() == ["S1", "S1", "S2"]
    assert muts["hugo_symbol"].tolist() == ["BRCA1", "TP53", "BRCA2"]
    assert muts["hgvsp_short"].tolist() == ["p.R1443G", "p.R213*", "p.K1000fs"]
    assert muts["start_position"].tolist() == [43045712, 7673802, 32340301]
    # VAF = alt / (alt + ref); no reads -> missing, not 0
    assert muts["vaf"].iloc[0] == pytest.approx(0.25)
    assert np.isnan(muts["vaf"].iloc[1])
    assert muts["vaf"].iloc[2] == pytest.approx(0.5)
    # line numbers count the '#' line and the header
    assert muts[SOURCE_ROW].tolist() == [3, 4, 5]


def test_load_maf_explicit_percent_vaf_is_read_as_fraction(tmp_path: Path) -> None:
    header = [*MAF_HEADER[:8], "i_TumorVAF_WU"]
    rows = [r[:8] + [v] for r, v in zip(MAF_ROWS, ["45.5", "12", "100"], strict=True)]
    muts = load_maf(write_maf(tmp_path / "x.maf", rows, header, comments=()))
    np.testing.assert_allclose(muts["vaf"], [0.455, 0.12, 1.0])


def test_load_maf_real_tcga_laml(shared_data: Path) -> None:
    path = shared_data / "genomics" / "maftools" / "tcga_laml.maf.gz"
    reference = pd.read_csv(path, sep="\t", comment="#", low_memory=False)
    muts = load_maf(path)
    assert len(muts) == len(reference) == 2207
    assert muts["sample_id"].nunique() == reference["Tumor_Sample_Barcode"].nunique() == 193
    assert (muts["hugo_symbol"].to_numpy() == reference["Hugo_Symbol"].to_numpy()).all()
    vaf = muts["vaf"].dropna()
    assert len(vaf) == reference["i_TumorVAF_WU"].notna().sum()
    np.testing.assert_allclose(vaf, reference["i_TumorVAF_WU"].dropna() / 100)


# ------------------------------------------------------------------------------------------
# cBioPortal
# ------------------------------------------------------------------------------------------

def clinical(header_rows: int, columns: list[str], rows: list[list[str]]) -> str:
    meta = [["#" + c for c in columns]] * header_rows
    lines = ["\t".join(r) for r in meta] + ["\t".join(columns)] + ["\t".join(r) for r in rows]
    return "\n".join(lines) + "\n"


def make_study(folder: Path, *, patients=None, samples=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta_study.txt").write_text(
        "type_of_cancer: mixed\ncancer_study_identifier: tmb_mskcc_2018\nname: Test study\n")
    patients = patients or [
        ["P1", "61", "Male", "12.5", "1:DECEASED", "3.1", "1:Progressed", "Combo", "4.1", "XYZ"],
        ["P2", "70", "Female", "30.0", "0:LIVING", "30.0", "0:Censored", "PD-1/PDL-1", "[Not Available]", "a"],
    ]
    (folder / "data_clinical_patient.txt").write_text(clinical(
        4, ["PATIENT_ID", "AGE", "SEX", "OS_MONTHS", "OS_STATUS", "PFS_MONTHS", "PFS_STATUS",
            "DRUG_TYPE", "ALBUMIN", "SOME_LOCAL_ATTRIBUTE"], patients))
    samples = samples or [
        ["S1", "P1", "Non-Small Cell Lung Cancer", "12.3", "0.5", "Stable"],
        ["S2", "P2", "Melanoma", "45.0", "20.1", "Instable"],
        ["S3", "P2", "Melanoma", "40.0", "18.0", "Instable"],
    ]
    (folder / "data_clinical_sample.txt").write_text(clinical(
        5, ["SAMPLE_ID", "PATIENT_ID", "CANCER_TYPE", "TMB_NONSYNONYMOUS", "MSI_SCORE",
            "MSI_TYPE"], samples))
    (folder / "data_gene_panel_matrix.txt").write_text(
        "SAMPLE_ID\tmutations\nS1\tIMPACT468\nS2\tIMPACT341\nS3\tMY_PANEL\n")
    (folder / "data_gene_panel_impact468.txt").write_text(
        "stable_id: IMPACT468\ndescription: test\ngene_list: BRCA1\tBRCA2\tTP53\n")
    (folder / "data_gene_panel_mine.txt").write_text(
        "stable_id: MY_PANEL\ndescription: custom\ngene_list: TP53\tKRAS\n")
    write_maf(folder / "data_mutations_extended.txt",
              rows=[r[:6] + [s] + r[7:] for r, s in zip(MAF_ROWS, ["S1", "S1", "S2"], strict=True)])
    return folder


def test_load_cbioportal_study(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        cohort = load_cbioportal(make_study(tmp_path / "study"))
    p = cohort.patients.set_index("patient_id")
    assert p.loc["P1", "cancer_type"] == "NSCLC" and p.loc["P2", "cancer_type"] == "MEL"
    assert p.loc["P2", "sex"] == "female" and p.loc["P1", "age"] == 61
    assert set(p["centre"]) == {"tmb_mskcc_2018"}
    o = cohort.outcomes.set_index("patient_id")
    assert o["os_event"].tolist() == [1, 0] and o["pfs_event"].tolist() == [1, 0]
    t = cohort.treatments.set_index("patient_id")
    assert t["drug_class"].tolist() == ["combination", "PD-1/PD-L1"]
    lab = cohort.labs.set_index("patient_id")
    assert lab.loc["P1", "albumin"] == 4.1 and np.isnan(lab.loc["P2", "albumin"])
    s = cohort.samples.set_index("sample_id")
    assert s["panel"].tolist() == ["MSK-IMPACT468", "MSK-IMPACT341", "MY_PANEL"]
    np.testing.assert_allclose(s["panel_size_mb"].iloc[:2], [1.22, 0.98])
    assert np.isnan(s.loc["S3", "panel_size_mb"])
    assert s["msi_status"].tolist() == ["MSS", "MSI-H", "MSI-H"]
    assert s.loc["S2", "tmb"] == 45.0
    assert len(cohort.mutations) == 3
    genes = cohort.panel_genes.groupby("panel")["hugo_symbol"].apply(set).to_dict()
    assert genes == {"MSK-IMPACT468": {"BRCA1", "BRCA2", "TP53"}, "MY_PANEL": {"TP53", "KRAS"}}
    assert "SOME_LOCAL_ATTRIBUTE" in caplog.text  # unknown attributes are logged, not fatal
    # rows point at the source lines: 4 '#' lines + header -> first patient on line 6
    assert cohort.patients[SOURCE_ROW].tolist() == [6, 7]


def test_load_cbioportal_centre_argument_wins(tmp_path: Path) -> None:
    cohort = load_cbioportal(make_study(tmp_path / "s"), centre="Leiden")
    assert set(cohort.patients["centre"]) == {"Leiden"}


def test_load_cbioportal_bad_status_names_file_row_attribute(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", patients=[
        ["P1", "61", "Male", "12.5", "2:MAYBE", "3.1", "1:Progressed", "Combo", "4.1", "x"],
        ["P2", "70", "Female", "-3", "0:LIVING", "30.0", "0:Censored", "Combo", "4.0", "x"],
    ])
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    text = str(info.value)
    assert "data_clinical_patient.txt, row 6, column 'OS_STATUS'" in text
    assert "data_clinical_patient.txt, row 7, column 'OS_MONTHS'" in text


# ------------------------------------------------------------------------------------------
# Generic column maps: several files, unit and coding conversions
# ------------------------------------------------------------------------------------------

def write_map(path: Path, body: dict) -> Path:
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def test_column_map_stacks_and_joins_files_with_conversions(tmp_path: Path) -> None:
    pd.DataFrame({"pid": ["a", "b"], "tumour": ["Melanoma", "Bladder Cancer"],
                  "surv_days": [365.25, 30.4375], "alive": [1, 0], "resp": ["PR", "pd"],
                  "therapy": ["Nivolumab + Ipilimumab", "pembrolizumab"]}
                 ).to_csv(tmp_path / "y2019.csv", index=False)
    pd.DataFrame({"pid": ["c"], "tumour": ["NSCLC"], "surv_days": [60.875], "alive": [0],
                  "resp": ["SD"], "therapy": ["atezolizumab"]}).to_csv(tmp_path / "y2020.tsv",
                                                                       sep="\t", index=False)
    with pd.ExcelWriter(tmp_path / "labs.xlsx") as xl:
        pd.DataFrame({"Patient": ["a", "b", "c"], "Alb (g/L)": [40, 35, 28],
                      "Neut": [6.0, 3.0, 8.0], "Lymph": [2.0, 1.5, 0.0]}
                     ).to_excel(xl, sheet_name="baseline", index=False)
    clinical_cols = {
        "patient_id": "pid", "cancer_type": "tumour",
        "os_months": {"column": "surv_days", "unit": "days"},
        "os_event": {"column": "alive", "event_value": 0},  # this centre codes 1 = alive
        "bor": "resp", "drug": "therapy",
    }
    cmap = write_map(tmp_path / "centre.yaml", {
        "name": "test", "centre": "Utrecht",
        "files": [
            {"path": "y2019.csv", "columns": clinical_cols},
            {"path": "y2020.tsv", "columns": clinical_cols},
            {"path": "labs.xlsx", "sheet": "baseline", "columns": {
                "patient_id": "Patient", "albumin": {"column": "Alb (g/L)", "unit": "g/L"},
                "neutrophils": "Neut", "lymphocytes": "Lymph"}},
        ]})
    cohort = load_source(cmap)
    f = cohort.frame().set_index("patient_id")
    assert list(f.index) == ["a", "b", "c"]
    assert f["cancer_type"].tolist() == ["MEL", "BLCA", "NSCLC"]
    np.testing.assert_allclose(f["os_months"], [12.0, 1.0, 2.0])
    assert f["os_event"].tolist() == [0, 1, 1]
    assert f["bor"].tolist() == ["PR", "PD", "SD"] and f["responder"].tolist() == [1, 0, 0]
    assert f["drug_class"].tolist() == ["combination", "PD-1/PD-L1", "PD-1/PD-L1"]
    assert f["drug"].iloc[0] == "nivolumab + ipilimumab"
    np.testing.assert_allclose(f["albumin"], [4.0, 3.5, 2.8])
    # NLR computed from counts; zero lymphocytes -> missing, not infinite
    np.testing.assert_allclose(f["nlr"].iloc[:2], [3.0, 2.0])
    assert np.isnan(f["nlr"].iloc[2])
    assert set(f["centre"]) == {"Utrecht"}


def test_given_responder_is_kept_over_bor(tmp_path: Path) -> None:
    pd.DataFrame({"id": ["a", "b"], "ct": ["MEL", "MEL"], "bor": ["SD", "PR"],
                  "resp": [1, 1]}).to_csv(tmp_path / "d.csv", index=False)
    cmap = write_map(tmp_path / "m.yaml", {"name": "t", "centre": "X", "files": [
        {"path": "d.csv", "columns": {"patient_id": "id", "cancer_type": "ct", "bor": "bor",
                                      "responder": "resp"}}]})
    assert load_column_map(cmap).outcomes["responder"].tolist() == [1, 1]


def test_parquet_source_and_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    data.mkdir()
    pd.DataFrame({"id": [10, 11], "ct": ["Renal", "renal cell carcinoma"], "msi": [1, 0],
                  "panel": ["IMPACT410", "F1CDx"]}).to_parquet(data / "d.parquet")
    cmap = write_map(tmp_path / "m.yaml", {"name": "t", "centre": "X", "files": [
        {"path": "d.parquet", "columns": {"patient_id": "id", "cancer_type": "ct",
                                          "msi_status": "msi", "panel": "panel"}}]})
    cohort = load_column_map(cmap, data_dir=data, centre="Y")
    assert cohort.patients["patient_id"].tolist() == ["10", "11"]
    assert set(cohort.patients["centre"]) == {"Y"}
    assert cohort.samples["msi_status"].tolist() == ["MSI-H", "MSS"]
    np.testing.assert_allclose(cohort.samples["panel_size_mb"], [1.06, 0.8])


def test_load_source_dispatch(tmp_path: Path) -> None:
    maf = write_maf(tmp_path / "m.maf.gz")
    cohort = load_source(maf)
    assert len(cohort.mutations) == 3 and cohort.patients.empty
    assert len(load_source(make_study(tmp_path / "study")).samples) == 3
    (tmp_path / "notes.pdf").write_text("x")
    with pytest.raises(CohortError, match="unknown source type"):
        load_source(tmp_path / "notes.pdf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CohortError, match="meta_study.txt"):
        load_source(tmp_path / "empty")


def test_column_map_with_mutations_file(tmp_path: Path) -> None:
    write_maf(tmp_path / "m.maf")
    pd.DataFrame({"id": ["S1", "S2"], "ct": ["MEL", "NSCLC"]}).to_csv(tmp_path / "d.csv",
                                                                     index=False)
    cmap = tmp_path / "m.yaml"
    cmap.write_text(textwrap.dedent("""\
        name: t
        centre: X
        mutations: m.maf
        files:
          - path: d.csv
            columns: {patient_id: id, sample_id: id, cancer_type: ct}
    """))
    cohort = load_column_map(cmap)
    assert cohort.mutations.groupby("sample_id", observed=True).size().to_dict() == {"S1": 2, "S2": 1}


def test_sample_and_lesion_files_with_several_rows_per_patient(tmp_path: Path) -> None:
    pd.DataFrame({"pid": ["a", "b"], "ct": ["MEL", "NSCLC"]}).to_csv(tmp_path / "clin.csv",
                                                                    index=False)
    pd.DataFrame({"sid": ["a1", "a2", "b1"], "pid": ["a", "a", "b"],
                  "assay": ["IMPACT468", "IMPACT410", "WES"]}).to_csv(tmp_path / "smp.csv",
                                                                     index=False)
    pd.DataFrame({"pid": ["a", "a"], "lesion": ["L1", "L2"], "img": ["img/a1.nii.gz", "/abs/a2"],
                  "mod": ["CT", "CT"]}).to_csv(tmp_path / "img.csv", index=False)
    cmap = write_map(tmp_path / "m.yaml", {"name": "t", "centre": "X", "files": [
        {"path": "clin.csv", "columns": {"patient_id": "pid", "cancer_type": "ct"}},
        {"path": "smp.csv", "columns": {"patient_id": "pid", "sample_id": "sid",
                                        "panel": "assay"}},
        {"path": "img.csv", "columns": {"patient_id": "pid", "lesion_id": "lesion",
                                        "image_uri": "img", "modality": "mod"}}]})
    cohort = load_column_map(cmap)
    assert len(cohort.patients) == 2
    assert cohort.samples["sample_id"].tolist() == ["a1", "a2", "b1"]
    np.testing.assert_allclose(cohort.samples["panel_size_mb"], [1.22, 1.06, 30.0])
    assert cohort.imaging["lesion_id"].tolist() == ["L1", "L2"]
    # relative image paths are resolved against the data file's folder
    assert cohort.imaging["image_uri"].tolist() == [str(tmp_path / "img" / "a1.nii.gz"), "/abs/a2"]


def test_sample_of_unknown_patient_is_located(tmp_path: Path) -> None:
    pd.DataFrame({"pid": ["a"], "ct": ["MEL"]}).to_csv(tmp_path / "clin.csv", index=False)
    pd.DataFrame({"sid": ["a1", "z1"], "pid": ["a", "z"]}).to_csv(tmp_path / "smp.csv",
                                                                  index=False)
    cmap = write_map(tmp_path / "m.yaml", {"name": "t", "centre": "X", "files": [
        {"path": "clin.csv", "columns": {"patient_id": "pid", "cancer_type": "ct"}},
        {"path": "smp.csv", "columns": {"patient_id": "pid", "sample_id": "sid"}}]})
    with pytest.raises(CohortError) as info:
        load_column_map(cmap)
    err = info.value
    assert (Path(err.file).name, err.row, err.column) == ("smp.csv", 3, "pid")
