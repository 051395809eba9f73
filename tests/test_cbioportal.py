"""cBioPortal study folders read as cBioPortal reads them (issue 11, items 1 and 4).

The real study (``../shared/data/cbioportal/study_es_0``, cBioPortal's own valid test study) is
checked against counts taken from its files with plain Python, not from the loader. Each rule also
has a small generated study (``tmp_path``), so it is tested without ``../shared`` as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icipredict.cohort.cbioportal import load_cbioportal
from icipredict.cohort.harmonise import OTHER_CANCER_TYPE, panel_size_mb
from icipredict.cohort.loaders import load_source
from icipredict.cohort.schema import CohortError
from icipredict.features.genomic import sample_genomics

# ------------------------------------------------------------------------------------------
# A small study, written the way cBioPortal ships them (meta files name the data files)
# ------------------------------------------------------------------------------------------

MAF_HEADER = ["Hugo_Symbol", "Chromosome", "Start_Position", "Variant_Classification",
              "Reference_Allele", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode", "HGVSp_Short",
              "Mutation_Status"]
MAF_ROWS = [
    ["TP53", "17", "7673802", "Missense_Mutation", "C", "T", "S1", "p.R213Q", "Somatic"],
    ["BRCA2", "13", "32340301", "Frame_Shift_Del", "A", "-", "S1", "p.K1000fs", "Germline"],
    ["KRAS", "12", "25245350", "Missense_Mutation", "C", "A", "S2", "p.G12V", "Somatic"],
    ["EGFR", "7", "55191822", "Missense_Mutation", "T", "G", "S2", "p.L858R", "Wildtype"],
]
PATIENTS = [["P1", "1:DECEASED", "10.5"], ["P2", "0:LIVING", "20.0"], ["P3", "LIVING", "7.0"],
            ["P4", "[Not Available]", "3.0"]]
SAMPLES = [["P1", "S1"], ["P2", "S2"], ["P3", "S3"], ["P4", "S4"], ["P5", "S5"]]
MATRIX = [["S1", "IMPACT468"], ["S2", "NA"], ["S3", "NA"], ["S4", "NA"]]
SEQUENCED = ["S1", "S2", "S3"]


def clinical_text(columns: list[str], rows: list[list[str]]) -> str:
    """A cBioPortal clinical file: 4 '#' header lines, the attribute row, the data."""
    head = ["#" + "\t".join(columns)] * 2 + ["#" + "\t".join(["STRING"] * len(columns)),
                                             "#" + "\t".join(["1"] * len(columns))]
    return "\n".join([*head, "\t".join(columns), *("\t".join(r) for r in rows)]) + "\n"


def write_meta(path: Path, **fields: str) -> None:
    path.write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))


def write_maf(path: Path, rows: list[list[str]]) -> None:
    path.write_text("\n".join(["#version 2.4", "\t".join(MAF_HEADER),
                               *("\t".join(r) for r in rows)]) + "\n")


def write_matrix(path: Path, rows: list[list[str]]) -> None:
    path.write_text("\n".join(["SAMPLE_ID\tmutations", *("\t".join(r) for r in rows)]) + "\n")


def write_case_list(folder: Path, ids: list[str], *, stable_id: str = "tiny_sequenced") -> None:
    folder.mkdir(exist_ok=True)
    write_meta(folder / "cases_sequenced.txt", cancer_study_identifier="tiny",
               stable_id=stable_id, case_list_name="Sequenced",
               case_list_description="Samples profiled for mutations",
               case_list_ids="\t".join(ids))


def make_study(folder: Path, *, type_of_cancer: str = "luad",
               patient_columns: tuple[str, ...] = ("PATIENT_ID", "OS_STATUS", "OS_MONTHS"),
               patients: list[list[str]] | None = None, samples: list[list[str]] | None = None,
               sample_columns: tuple[str, ...] = ("PATIENT_ID", "SAMPLE_ID"),
               maf_rows: list[list[str]] | None = None, matrix: list[list[str]] | None = None,
               sequenced: list[str] | None = None,
               profile_description: str = "Mutation data from whole exome sequencing.") -> Path:
    """Outcome-only patient file, samples without CANCER_TYPE, files under unusual names that
    only the meta files give; S1 on IMPACT468, S2/S3 sequenced without a panel (exome profile),
    S4/S5 never sequenced; P5 appears only in the sample file."""
    folder.mkdir(parents=True, exist_ok=True)
    write_meta(folder / "meta_study.txt", type_of_cancer=type_of_cancer,
               cancer_study_identifier="tiny", name="Tiny study", add_global_case_list="true")
    write_meta(folder / "meta_clinical_patient.txt", cancer_study_identifier="tiny",
               genetic_alteration_type="CLINICAL", datatype="PATIENT_ATTRIBUTES",
               data_filename="outcomes.tsv")
    (folder / "outcomes.tsv").write_text(clinical_text(list(patient_columns),
                                                       PATIENTS if patients is None else patients))
    write_meta(folder / "meta_clinical_sample.txt", cancer_study_identifier="tiny",
               genetic_alteration_type="CLINICAL", datatype="SAMPLE_ATTRIBUTES",
               data_filename="specimens.tsv")
    (folder / "specimens.tsv").write_text(clinical_text(list(sample_columns),
                                                        SAMPLES if samples is None else samples))
    write_meta(folder / "meta_mutations_extended.txt", cancer_study_identifier="tiny",
               genetic_alteration_type="MUTATION_EXTENDED", datatype="MAF", stable_id="mutations",
               profile_name="Mutations", profile_description=profile_description,
               data_filename="calls.maf")
    write_maf(folder / "calls.maf", MAF_ROWS if maf_rows is None else maf_rows)
    write_meta(folder / "meta_gene_panel_matrix.txt", cancer_study_identifier="tiny",
               genetic_alteration_type="GENE_PANEL_MATRIX", datatype="GENE_PANEL_MATRIX",
               data_filename="panels.tsv")
    write_matrix(folder / "panels.tsv", MATRIX if matrix is None else matrix)
    (folder / "data_gene_panel_impact468.txt").write_text(
        "stable_id: IMPACT468\ndescription: test\ngene_list: TP53\tBRCA2\tKRAS\n")
    write_case_list(folder / "case_lists", SEQUENCED if sequenced is None else sequenced)
    return folder


def problems(info: pytest.ExceptionInfo) -> str:
    return str(info.value)


# ------------------------------------------------------------------------------------------
# The generated study: what is read and how
# ------------------------------------------------------------------------------------------

def test_files_come_from_the_meta_files_and_every_maf_row_is_accounted_for(
        tmp_path: Path) -> None:
    cohort = load_cbioportal(make_study(tmp_path / "s"))
    assert sorted(cohort.samples["sample_id"]) == ["S1", "S2", "S3", "S4", "S5"]
    assert cohort.mutations["hugo_symbol"].tolist() == ["TP53", "KRAS"]
    assert cohort.germline_mutations["hugo_symbol"].tolist() == ["BRCA2"]
    assert cohort.load_report == {"calls.maf: Mutation_Status=Wildtype": 1}
    kept = len(cohort.mutations) + len(cohort.germline_mutations)
    assert kept + sum(cohort.load_report.values()) == len(MAF_ROWS)
    assert set(cohort.patients["centre"]) == {"tiny"}


def test_outcome_only_patient_file_and_cancer_type_from_meta_study(tmp_path: Path) -> None:
    cohort = load_cbioportal(make_study(tmp_path / "s"))
    p = cohort.patients.set_index("patient_id")
    # P5 has a sample but no row in the patient file: a patient all the same (as in cBioPortal)
    assert sorted(p.index) == ["P1", "P2", "P3", "P4", "P5"]
    assert set(p["cancer_type"]) == {"NSCLC"}  # type_of_cancer: luad
    o = cohort.outcomes.set_index("patient_id")
    assert o.loc[["P1", "P2", "P3"], "os_event"].tolist() == [1, 0, 0]  # LIVING is accepted
    assert pd.isna(o.loc["P4", "os_event"])


def test_unsequenced_samples_have_no_panel_and_sequenced_ones_without_variants_tmb_0(
        tmp_path: Path) -> None:
    cohort = load_cbioportal(make_study(tmp_path / "s"))
    s = cohort.samples.set_index("sample_id")
    assert s.loc["S1", "panel"] == "MSK-IMPACT468"
    assert s.loc["S2", "panel"] == s.loc["S3", "panel"] == "WES"  # NA in the matrix, exome profile
    np.testing.assert_allclose(s.loc[["S1", "S2", "S3"], "panel_size_mb"],
                               [panel_size_mb("MSK-IMPACT468"), panel_size_mb("WES"),
                                panel_size_mb("WES")])
    assert s.loc[["S4", "S5"], "panel"].isna().all()
    assert s.loc[["S4", "S5"], "panel_size_mb"].isna().all()
    g = sample_genomics(cohort.mutations, cohort.samples, cohort.panel_genes,
                        patients=cohort.patients, genes=["TP53", "KRAS"])
    assert g.loc["S3", "tmb"] == 0.0 and g.loc["S3", "mut_TP53"] == 0.0  # sequenced, no variant
    np.testing.assert_allclose(g.loc["S2", "tmb"], 1 / panel_size_mb("WES"))
    np.testing.assert_allclose(g.loc["S1", "tmb"], 1 / panel_size_mb("MSK-IMPACT468"))
    assert g.loc[["S4", "S5"], ["tmb", "mut_TP53", "mut_KRAS"]].isna().all().all()


def test_reported_tmb_of_a_sample_outside_the_sequenced_list_is_missing(tmp_path: Path) -> None:
    samples = [[*r, t] for r, t in zip(SAMPLES, ["3.5", "0", "0", "0", "7"], strict=True)]
    folder = make_study(tmp_path / "s", samples=samples,
                        sample_columns=("PATIENT_ID", "SAMPLE_ID", "TMB_NONSYNONYMOUS"))
    s = load_cbioportal(folder).samples.set_index("sample_id")
    assert s.loc[["S1", "S2", "S3"], "tmb"].tolist() == [3.5, 0.0, 0.0]
    assert s.loc[["S4", "S5"], "tmb"].isna().all()


def test_no_panel_and_a_profile_that_does_not_say_exome_leaves_the_territory_unknown(
        tmp_path: Path) -> None:
    cohort = load_cbioportal(make_study(tmp_path / "s", profile_description="Targeted panel"))
    s = cohort.samples.set_index("sample_id")
    assert s.loc["S1", "panel"] == "MSK-IMPACT468"
    assert s.loc[["S2", "S3"], "panel"].isna().all()
    assert s.loc[["S2", "S3"], "panel_size_mb"].isna().all()


def test_gene_panel_property_of_the_mutation_meta(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s")
    meta = folder / "meta_mutations_extended.txt"
    meta.write_text(meta.read_text() + "gene_panel: IMPACT341\n")
    s = load_cbioportal(folder).samples.set_index("sample_id")
    assert s.loc["S1", "panel"] == "MSK-IMPACT468"  # the matrix wins
    assert s.loc["S2", "panel"] == s.loc["S3", "panel"] == "MSK-IMPACT341"


def test_matrix_whole_exome_values_are_wes(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", matrix=[["S1", "WXS"], ["S2", "WXS/WGS"], ["S3", "NA"]],
                        profile_description="Mutations")
    s = load_cbioportal(folder).samples.set_index("sample_id")
    assert s.loc["S1", "panel"] == s.loc["S2", "panel"] == "WES"
    assert pd.isna(s.loc["S3", "panel"])  # no panel, profile not said to be exome


def test_several_mutation_profiles_txt_and_maf_are_all_read(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s")
    write_meta(folder / "meta_mutations_second.txt", cancer_study_identifier="tiny",
               genetic_alteration_type="MUTATION_EXTENDED", datatype="MAF",
               stable_id="mutations_extra", profile_name="More", profile_description="exome",
               data_filename="data_mutations_extra.txt")
    write_maf(folder / "data_mutations_extra.txt",
              [["PTEN", "10", "87864470", "Nonsense_Mutation", "C", "T", "S3", "p.R130*",
                "Somatic"]])
    cohort = load_cbioportal(folder)
    assert sorted(cohort.mutations["hugo_symbol"]) == ["KRAS", "PTEN", "TP53"]


def test_uncalled_profile_rows_are_counted_not_read(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s")
    write_meta(folder / "meta_mutations_uncalled.txt", cancer_study_identifier="tiny",
               genetic_alteration_type="MUTATION_UNCALLED", datatype="MAF",
               stable_id="mutations_uncalled", data_filename="data_mutations_uncalled.txt")
    write_maf(folder / "data_mutations_uncalled.txt", MAF_ROWS[:2])
    cohort = load_cbioportal(folder)
    assert len(cohort.mutations) == 2
    assert cohort.load_report["data_mutations_uncalled.txt: MUTATION_UNCALLED profile, not "
                              "variants (not read)"] == 2


def test_conventional_names_without_meta_files_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    write_meta(folder / "meta_study.txt", type_of_cancer="skcm", cancer_study_identifier="old")
    (folder / "data_clinical_samples.txt").write_text(clinical_text(["PATIENT_ID", "SAMPLE_ID"],
                                                                    SAMPLES[:2]))
    write_maf(folder / "data_mutations.maf", [MAF_ROWS[0]])
    cohort = load_cbioportal(folder)
    assert set(cohort.patients["cancer_type"]) == {"MEL"}
    s = cohort.samples.set_index("sample_id")
    # no case list: the sample with MAF rows is sequenced; no panel, no exome profile -> unknown
    assert len(cohort.mutations) == 1 and s["panel"].isna().all()


def test_type_of_cancer_through_the_cancer_type_file_parent(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", type_of_cancer="brca-local")
    write_meta(folder / "meta_cancer_type.txt", genetic_alteration_type="CANCER_TYPE",
               datatype="CANCER_TYPE", data_filename="cancer_type.txt")
    (folder / "cancer_type.txt").write_text("brca-local\tLocal breast subtype\tHotPink\tBreast\n")
    assert set(load_cbioportal(folder).patients["cancer_type"]) == {"BRCA"}


def test_unknown_type_of_cancer_follows_the_vocabulary_policy(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", type_of_cancer="zzz-unknown")
    cohort = load_source(folder)
    assert set(cohort.patients["cancer_type"]) == {OTHER_CANCER_TYPE}
    with pytest.raises(CohortError) as info:
        load_source(folder, strict=True)
    assert "meta_study.txt, row 1, column 'type_of_cancer'" in problems(info)


def test_mixed_study_without_cancer_type_names_the_file_row_and_column(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", type_of_cancer="mixed")
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    text = problems(info)
    assert "outcomes.tsv, row 6, column 'CANCER_TYPE'" in text
    assert f"file {folder}:" not in text and f"file {folder}," not in text


def test_cancer_type_column_wins_over_meta_study(tmp_path: Path) -> None:
    samples = [[*r, "Melanoma"] for r in SAMPLES]
    folder = make_study(tmp_path / "s", samples=samples,
                        sample_columns=("PATIENT_ID", "SAMPLE_ID", "CANCER_TYPE"))
    assert set(load_cbioportal(folder).patients["cancer_type"]) == {"MEL"}


# ------------------------------------------------------------------------------------------
# What cBioPortal's validator refuses is refused, naming file, row and column
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["S 1", "S,1", "S;1", "S*1", "S:1"])
def test_sample_ids_with_forbidden_characters(tmp_path: Path, bad: str) -> None:
    samples = [["P1", bad], *SAMPLES[1:]]
    folder = make_study(tmp_path / "s", samples=samples, maf_rows=MAF_ROWS[2:],
                        matrix=MATRIX[1:], sequenced=SEQUENCED[1:])
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    assert "specimens.tsv, row 6, column 'SAMPLE_ID'" in problems(info)


def test_patient_id_with_a_space(tmp_path: Path) -> None:
    patients = [["P 1", "1:DECEASED", "10.5"], *PATIENTS[1:]]
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", patients=patients))
    assert "outcomes.tsv, row 6, column 'PATIENT_ID'" in problems(info)


def test_sample_id_longer_than_63_characters(tmp_path: Path) -> None:
    samples = [*SAMPLES, ["P5", "S" * 64]]
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", samples=samples))
    assert "specimens.tsv, row 11, column 'SAMPLE_ID'" in problems(info)


@pytest.mark.parametrize("bad", ["0:ALIVE", "0:living", "alive", "2:DEAD"])
def test_os_status_outside_cbioportal_values(tmp_path: Path, bad: str) -> None:
    patients = [PATIENTS[0], ["P2", bad, "20.0"], *PATIENTS[2:]]
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", patients=patients))
    assert "outcomes.tsv, row 7, column 'OS_STATUS'" in problems(info)


def test_pfs_status_needs_the_0_or_1_prefix(tmp_path: Path) -> None:
    columns = ("PATIENT_ID", "OS_STATUS", "OS_MONTHS", "PFS_STATUS", "PFS_MONTHS")
    patients = [[*PATIENTS[0], "1:PROGRESSION", "3.0"], [*PATIENTS[1], "0:CENSORED", "20.0"],
                [*PATIENTS[2], "Progressed", "5.0"], [*PATIENTS[3], "", ""]]
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", patient_columns=columns, patients=patients))
    text = problems(info)
    assert "outcomes.tsv, row 8, column 'PFS_STATUS'" in text
    assert "row 6, column 'PFS_STATUS'" not in text and "row 7, column 'PFS_STATUS'" not in text
    patients[2][3] = "1:Progressed"
    cohort = load_cbioportal(make_study(tmp_path / "t", patient_columns=columns,
                                        patients=patients))
    o = cohort.outcomes.set_index("patient_id")
    assert o.loc[["P1", "P2", "P3"], "pfs_event"].tolist() == [1, 0, 1]


def test_duplicated_sample_in_the_gene_panel_matrix(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", matrix=[*MATRIX, ["S1", "IMPACT468"]])
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    assert "panels.tsv, row 6, column 'SAMPLE_ID'" in problems(info)
    assert "listed twice" in problems(info)


def test_matrix_sample_missing_from_the_sample_file(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", matrix=[*MATRIX, ["S42", "NA"]])
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    assert "panels.tsv, row 6, column 'SAMPLE_ID'" in problems(info)


def test_matrix_panel_for_a_sample_outside_the_sequenced_list(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s", matrix=[*MATRIX[:3], ["S4", "IMPACT468"]])
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    assert "panels.tsv, row 5, column 'mutations'" in problems(info)


def test_mutation_rows_of_a_sample_missing_from_the_sample_file(tmp_path: Path) -> None:
    rows = [*MAF_ROWS, ["PTEN", "10", "87864470", "Nonsense_Mutation", "C", "T", "S9", "p.R130*",
                        "Somatic"]]
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", maf_rows=rows))
    assert "calls.maf, row 7, column 'Tumor_Sample_Barcode'" in problems(info)
    assert "'S9' is not defined in specimens.tsv" in problems(info)


def test_mutation_sample_missing_from_the_sequenced_list(tmp_path: Path) -> None:
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", sequenced=["S1", "S3"]))
    assert "calls.maf, row 5, column 'Tumor_Sample_Barcode'" in problems(info)
    assert "_sequenced case list" in problems(info)


def test_case_list_sample_missing_from_the_sample_file(tmp_path: Path) -> None:
    with pytest.raises(CohortError) as info:
        load_cbioportal(make_study(tmp_path / "s", sequenced=[*SEQUENCED, "S77"]))
    assert "cases_sequenced.txt, row 5, column 'case_list_ids'" in problems(info)


def test_meta_file_naming_a_missing_data_file(tmp_path: Path) -> None:
    folder = make_study(tmp_path / "s")
    (folder / "calls.maf").unlink()
    with pytest.raises(CohortError) as info:
        load_cbioportal(folder)
    assert "meta_mutations_extended.txt" in problems(info)
    assert "column 'data_filename'" in problems(info)


# ------------------------------------------------------------------------------------------
# The real study, as cBioPortal ships it
# ------------------------------------------------------------------------------------------

def _clinical_rows(path: Path) -> list[dict[str, str]]:
    lines = [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()
             if not line.startswith("#")]
    return [dict(zip(lines[0], row, strict=False)) for row in lines[1:]]


def _meta(path: Path) -> dict[str, str]:
    return dict((k.strip(), v.strip()) for k, v in
                (line.split(":", 1) for line in path.read_text().splitlines() if ":" in line))


@pytest.fixture(scope="module")
def study_es_0(shared_data: Path) -> Path:
    path = shared_data / "cbioportal" / "study_es_0"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def test_study_es_0_counts_equal_the_files(study_es_0: Path) -> None:
    patients = _clinical_rows(study_es_0 / _meta(study_es_0 / "meta_clinical_patients.txt")[
        "data_filename"])
    samples = _clinical_rows(study_es_0 / _meta(study_es_0 / "meta_clinical_samples.txt")[
        "data_filename"])
    patient_ids = {r["PATIENT_ID"] for r in patients} | {r["PATIENT_ID"] for r in samples}
    cohort = load_cbioportal(study_es_0)
    assert len(cohort.patients) == len(patient_ids) == 841
    assert len(cohort.samples) == len({r["SAMPLE_ID"] for r in samples}) == 845
    assert set(cohort.patients["patient_id"]) == patient_ids
    deceased = sum(r["OS_STATUS"] == "1:DECEASED" for r in patients)
    living = sum(r["OS_STATUS"] == "0:LIVING" for r in patients)
    events = cohort.outcomes["os_event"]
    assert (int((events == 1).sum()), int((events == 0).sum())) == (deceased, living)
    # no CANCER_TYPE column: type_of_cancer brca-es0, whose parent in the cancer type file is Breast
    assert set(cohort.patients["cancer_type"]) == {"BRCA"}


def test_study_es_0_every_maf_row_is_kept_or_dropped_with_a_reason(study_es_0: Path) -> None:
    maf = study_es_0 / _meta(study_es_0 / "meta_mutations_extended.txt")["data_filename"]
    assert maf.suffix == ".maf"
    lines = [line for line in maf.read_text().splitlines() if line and not line.startswith("#")]
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    status = [r[header.index("Mutation_Status")].strip().lower() for r in rows]
    cohort = load_cbioportal(study_es_0)
    assert len(cohort.mutations) == sum(s in ("somatic", "") for s in status)
    assert len(cohort.germline_mutations) == status.count("germline")
    dropped = sum(v for k, v in cohort.load_report.items() if k.startswith(f"{maf.name}: "))
    assert len(cohort.mutations) + len(cohort.germline_mutations) + dropped == len(rows) == 36


def test_study_es_0_case_list_decides_who_was_sequenced(study_es_0: Path) -> None:
    listed = _meta(study_es_0 / "case_lists" / "cases_sequenced.txt")["case_list_ids"].split("\t")
    matrix = dict(line.split("\t")[:2] for line in
                  (study_es_0 / "data_gene_panel_matrix.txt").read_text().splitlines()[1:])
    cohort = load_cbioportal(study_es_0)
    s = cohort.samples.set_index("sample_id")
    sequenced = s.index.isin(listed)
    assert sequenced.sum() == len(set(listed)) == 31
    assert s.loc[~sequenced, "panel"].isna().all() and s.loc[~sequenced, "panel_size_mb"].isna().all()
    no_panel = [sid for sid in listed if matrix.get(sid, "NA") == "NA"]
    assert (s.loc[no_panel, "panel"] == "WES").all()  # "Mutation data from whole exome sequencing."
    assert (s.loc[no_panel, "panel_size_mb"] == panel_size_mb("WES")).all()
    on_panel = [sid for sid in listed if matrix.get(sid, "NA") != "NA"]
    assert s.loc[on_panel, "panel"].tolist() == [matrix[sid] for sid in on_panel]
    g = sample_genomics(cohort.mutations, cohort.samples, cohort.panel_genes,
                        patients=cohort.patients)
    with_rows = set(cohort.mutations["sample_id"])
    wes_without_rows = [sid for sid in no_panel if sid not in with_rows]
    assert wes_without_rows and (g.loc[wes_without_rows, "tmb"] == 0.0).all()
    assert g.loc[s.index[~sequenced], "tmb"].isna().all()
