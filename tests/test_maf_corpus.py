"""MAF reading: somatic vs germline vs not-a-variant, cBioPortal's strict rules, the real corpus.

The expected counts of the cBioPortal corpus (``../shared/data/cbioportal/mutations``) were counted
from the files with plain Python (one ``Mutation_Status``/``Validation_Status`` per data line), not
copied from the loader; :func:`count_by_status` recounts them the same way in the test.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import icipredict.cohort.maf.stream as maf_stream
import icipredict.cohort.maf.tables as maf_tables
from cohort_factory import make_cohort, sample_ids
from icipredict.cohort.loaders import load_source
from icipredict.cohort.maf import VARIANT_CLASSIFICATIONS, MafRead, load_maf, read_maf
from icipredict.cohort.schema import CONTRACTS, SOURCE_ROW, Cohort, CohortError, CohortErrors
from icipredict.cohort.store import CohortStore

HEADER = ["Hugo_Symbol", "Chromosome", "Start_Position", "Variant_Classification",
          "Reference_Allele", "Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode",
          "HGVSp_Short", "Mutation_Status", "Validation_Status", "t_ref_count", "t_alt_count"]


def row(gene: str = "TP53", sample: str = "S1", status: str = "Somatic",
        validation: str = "Untested", **over: str) -> list[str]:
    """One data line (defaults: a valid somatic SNV), with any MAF column overridden."""
    values = {"Hugo_Symbol": gene, "Chromosome": "17", "Start_Position": "7673802",
              "Variant_Classification": "Missense_Mutation", "Reference_Allele": "C",
              "Tumor_Seq_Allele1": "C", "Tumor_Seq_Allele2": "T", "Tumor_Sample_Barcode": sample,
              "HGVSp_Short": "p.R213Q", "Mutation_Status": status,
              "Validation_Status": validation, "t_ref_count": "30", "t_alt_count": "10", **over}
    return [values[c] for c in HEADER]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER,
          comments: tuple[str, ...] = ("#version 2.4",), tail: str = "\n") -> Path:
    """Write a tab-separated MAF (gzip when the name ends in .gz)."""
    text = "\n".join([*comments, "\t".join(header), *("\t".join(r) for r in rows)]) + tail
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def refusal(path: Path) -> list[CohortError]:
    """The errors reading ``path`` raises (one, or each of a CohortErrors)."""
    with pytest.raises(CohortError) as info:
        read_maf(path)
    err = info.value
    return err.errors if isinstance(err, CohortErrors) else [err]


def located(errors: list[CohortError], path: Path, line: int, column: str) -> bool:
    return any(e.file == str(path) and e.row == line and e.column == column for e in errors)


# ------------------------------------------------------------------------------------------
# Somatic means somatic
# ------------------------------------------------------------------------------------------

def test_somatic_germline_and_dropped_rows_are_kept_apart(tmp_path: Path) -> None:
    rows = [row("TP53"), row("KRAS", status="somatic"), row("BRCA1", status="Germline"),
            row("BRCA2", status="Wildtype"), row("ATM", status="LOH"),
            row("PTEN", status="None"), row("EGFR", status=""),
            row("ALK", validation="Wildtype"), row("MET", status="Unknown")]
    read = read_maf(write(tmp_path / "x.maf", rows))
    assert isinstance(read, MafRead)
    assert read.mutations["hugo_symbol"].tolist() == ["TP53", "KRAS", "EGFR"]
    assert read.mutations[SOURCE_ROW].tolist() == [3, 4, 9]
    assert read.germline["hugo_symbol"].tolist() == ["BRCA1"]
    assert read.germline[SOURCE_ROW].tolist() == [5]
    assert read.dropped == {"Mutation_Status=Wildtype": 1, "Mutation_Status=LOH": 1,
                            "Mutation_Status=None": 1, "Validation_Status=Wildtype": 1,
                            "Mutation_Status=Unknown": 1}
    assert read.n_rows == 9 == len(read.mutations) + len(read.germline) + sum(
        read.dropped.values())
    assert read.path == tmp_path / "x.maf"
    assert list(read.germline.columns) == list(read.mutations.columns)
    assert load_maf(tmp_path / "x.maf")["hugo_symbol"].tolist() == ["TP53", "KRAS", "EGFR"]


def test_no_status_columns_means_all_somatic(tmp_path: Path) -> None:
    header = [c for c in HEADER if not c.endswith("_Status")]
    rows = [[v for c, v in zip(HEADER, r, strict=True) if not c.endswith("_Status")]
            for r in (row(), row("KRAS"))]
    read = read_maf(write(tmp_path / "x.maf", rows, header))
    assert len(read.mutations) == 2 and read.germline.empty and read.dropped == {}


def test_germline_contract_cohort_fields_and_load_report(tmp_path: Path) -> None:
    assert CONTRACTS["germline_mutations"].column_names == CONTRACTS["mutations"].column_names
    assert "germline_mutations" in Cohort().tables()
    assert "load_report" not in Cohort().tables() and "load_report" not in Cohort.TABLES
    rows = [row("TP53"), row("BRCA1", status="Germline"), row("ATM", status="LOH")]
    loaded = load_source(write(tmp_path / "centre.maf", rows))
    assert loaded.mutations["hugo_symbol"].tolist() == ["TP53"]
    assert loaded.germline_mutations["hugo_symbol"].tolist() == ["BRCA1"]
    assert loaded.load_report == {"centre.maf: Mutation_Status=LOH": 1}
    assert loaded.without_source_rows().load_report == loaded.load_report


def test_germline_variants_of_unknown_samples_fail_the_foreign_key_check() -> None:
    cohort = make_cohort()
    cohort.germline_mutations = cohort.mutations.iloc[:1].assign(sample_id="NOBODY")
    with pytest.raises(CohortError, match="germline_mutations: 1 variant"):
        cohort.validate()


def test_store_keeps_germline_apart_and_accepts_categorical_columns(tmp_path: Path) -> None:
    s1, s2 = sample_ids()[:2]
    rows = [row("TP53", sample=s1), row("BRCA2", sample=s2, status="Germline"),
            row("KRAS", sample=s2, status="Wildtype")]
    read = read_maf(write(tmp_path / "x.maf", rows))
    cohort = make_cohort()
    cohort.mutations, cohort.germline_mutations = read.mutations, read.germline
    store = CohortStore(tmp_path / "cohort.duckdb")
    store.ingest(cohort, centre="Alpha", content_hash="h1")
    back = store.cohort()
    assert back.mutations["hugo_symbol"].tolist() == ["TP53"]
    assert back.germline_mutations["hugo_symbol"].tolist() == ["BRCA2"]
    assert set(back.germline_mutations["sample_id"]) <= set(back.samples["sample_id"])
    assert store.brca_carriers().empty  # the germline BRCA2 is no somatic carrier


# ------------------------------------------------------------------------------------------
# Strict rules (cBioPortal's validator), on generated files
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sample", ["S 1", "S,1", "S;1", "S*1", "S:1", "S\u00a01"])
def test_sample_ids_with_spaces_or_forbidden_characters_are_refused(tmp_path: Path,
                                                                     sample: str) -> None:
    path = write(tmp_path / "x.maf", [row(), row(sample=sample)])
    errors = refusal(path)
    assert located(errors, path, 4, "Tumor_Sample_Barcode")
    assert repr(sample) in str(errors[0])


@pytest.mark.parametrize(("over", "column"), [
    ({"Chromosome": "NA"}, "Chromosome"),
    ({"Chromosome": ""}, "Chromosome"),
    ({"Start_Position": ""}, "Start_Position"),
    ({"Start_Position": "NA"}, "Start_Position"),
    ({"Start_Position": "7673802.0"}, "Start_Position"),
    ({"Start_Position": "-5"}, "Start_Position"),
    ({"Start_Position": "chr17:7673802"}, "Start_Position"),
    ({"Tumor_Seq_Allele1": "C", "Tumor_Seq_Allele2": "C"}, "Tumor_Seq_Allele2"),
    ({"Tumor_Seq_Allele1": "", "Tumor_Seq_Allele2": "C"}, "Tumor_Seq_Allele2"),
    ({"Variant_Classification": "Missense_mUtAtioN"}, "Variant_Classification"),
    ({"Variant_Classification": "missense"}, "Variant_Classification"),
    ({"Variant_Classification": ""}, "Variant_Classification"),
    ({"Hugo_Symbol": ""}, "Hugo_Symbol"),
    ({"Tumor_Sample_Barcode": ""}, "Tumor_Sample_Barcode"),
    ({"t_alt_count": "ten"}, "t_alt_count"),
])
def test_strict_rules_name_file_row_and_column(tmp_path: Path, over: dict, column: str) -> None:
    path = write(tmp_path / "x.maf", [row(), row(), row("KRAS", **over)])
    assert located(refusal(path), path, 5, column)


def test_a_refused_class_is_not_kept_and_the_error_suggests_the_spelling(tmp_path: Path) -> None:
    path = write(tmp_path / "x.maf", [row(Variant_Classification="Missense_mUtAtioN")])
    (err,) = refusal(path)
    assert "did you mean 'Missense_Mutation'" in str(err)
    assert load_maf(path, validate=False)["variant_classification"].tolist() == [
        "Missense_mUtAtioN"]


def test_cbioportal_extra_classes_and_differing_allele1_are_accepted(tmp_path: Path) -> None:
    rows = [row(Variant_Classification=c) for c in VARIANT_CLASSIFICATIONS]
    rows.append(row("DEL", Reference_Allele="-", Tumor_Seq_Allele1="G", Tumor_Seq_Allele2="-"))
    rows.append(row("NOALLELES", Reference_Allele="NA", Tumor_Seq_Allele1="NA",
                    Tumor_Seq_Allele2="NA"))
    muts = load_maf(write(tmp_path / "x.maf", rows))
    assert {"Fusion", "Unknown", "Splice_Region", "De_novo_Start_InFrame"} <= set(
        muts["variant_classification"])
    assert len(muts) == len(VARIANT_CLASSIFICATIONS) + 2


def test_validate_false_reads_what_it_can(tmp_path: Path) -> None:
    rows = [row(sample="S 1", Chromosome="NA", Start_Position="12.0",
                Tumor_Seq_Allele2="C")]
    muts = load_maf(write(tmp_path / "x.maf", rows), validate=False)
    assert muts["sample_id"].tolist() == ["S 1"]
    assert muts["start_position"].tolist() == [12] and muts["chromosome"].isna().all()


def test_several_broken_rules_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path / "x.maf", [row(Chromosome="NA"), row(sample="A B")])
    errors = refusal(path)
    assert located(errors, path, 3, "Chromosome") and located(errors, path, 4,
                                                               "Tumor_Sample_Barcode")


@pytest.mark.parametrize("column", ["Center", "Hugo_Symbol"])
def test_invalid_utf8_names_the_row_and_column(tmp_path: Path, column: str) -> None:
    header = [*HEADER, "Center"]
    lines = [row() + ["centre"], row() + ["centre"], row() + ["centre"]]
    text = "\n".join(["#version 2.4", "\t".join(header), *("\t".join(r) for r in lines)]) + "\n"
    data = text.encode()
    field = header.index(column)
    bad_line = data.split(b"\n")
    parts = bad_line[4].split(b"\t")
    parts[field] = parts[field] + b"\x95\xc0"
    bad_line[4] = b"\t".join(parts)
    path = tmp_path / "x.maf"
    path.write_bytes(b"\n".join(bad_line))
    (err,) = refusal(path)
    assert (err.file, err.row, err.column) == (str(path), 5, column)
    assert "UTF-8" in err.message


def test_invalid_utf8_in_the_last_line_without_line_end(tmp_path: Path) -> None:
    path = tmp_path / "x.maf"
    path.write_bytes(("\t".join(HEADER) + "\n" + "\t".join(row()) + "\n").encode()
                     + "\t".join(row("\u00e9")).encode("latin-1"))
    (err,) = refusal(path)
    assert (err.row, err.column) == (3, "Hugo_Symbol")


def test_utf8_text_is_read(tmp_path: Path) -> None:
    muts = load_maf(write(tmp_path / "x.maf", [row("GÈNE", HGVSp_Short="p.α1β")]))
    assert muts["hugo_symbol"].tolist() == ["GÈNE"] and muts["hgvsp_short"].tolist() == ["p.α1β"]


# ------------------------------------------------------------------------------------------
# Reading mechanics: blocks, blank lines, gzip, typed and untyped numbers
# ------------------------------------------------------------------------------------------

def many_rows(n: int) -> list[list[str]]:
    """``n`` valid rows over 7 samples, 5 genes, a few germline and dropped ones."""
    status = ["Somatic"] * 8 + ["Germline", "Wildtype"]
    return [row(f"G{k % 5}", sample=f"S{k % 7}", status=status[k % 10],
                Start_Position=str(1000 + k), HGVSp_Short=f"p.X{k}", t_alt_count=str(k % 30))
            for k in range(n)]


def test_many_blocks_give_one_table_with_exact_lines(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(maf_stream, "BLOCK_SIZE", 4096)
    rows = many_rows(3000)
    path = write(tmp_path / "big.maf.gz", rows)
    read = read_maf(path)
    expected = [k for k in range(3000) if k % 10 < 8]
    assert read.mutations[SOURCE_ROW].tolist() == [k + 3 for k in expected]
    assert read.mutations["hgvsp_short"].tolist() == [f"p.X{k}" for k in expected]
    assert read.mutations["sample_id"].tolist() == [f"S{k % 7}" for k in expected]
    assert read.mutations["start_position"].tolist() == [1000 + k for k in expected]
    np.testing.assert_allclose(read.mutations["vaf"], [(k % 30) / (30 + k % 30)
                                                       for k in expected])
    assert read.germline[SOURCE_ROW].tolist() == [k + 3 for k in range(3000) if k % 10 == 8]
    assert read.dropped == {"Mutation_Status=Wildtype": 300}
    assert isinstance(read.mutations["sample_id"].dtype, pd.CategoricalDtype)
    assert sorted(read.mutations["sample_id"].cat.categories) == [f"S{k}" for k in range(7)]


def test_an_error_in_a_late_block_names_its_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(maf_stream, "BLOCK_SIZE", 4096)
    rows = many_rows(2000)
    rows[1500][HEADER.index("t_ref_count")] = "3O"  # letter O: the typed read fails
    path = write(tmp_path / "x.maf", rows)
    assert located(refusal(path), path, 1503, "t_ref_count")
    rows[1500] = row(Chromosome="")
    path = write(tmp_path / "y.maf", rows)
    assert located(refusal(path), path, 1503, "Chromosome")


def test_many_distinct_values_become_arrow_text(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(maf_tables, "MAX_CATEGORIES", 10)
    muts = load_maf(write(tmp_path / "x.maf", many_rows(50)))
    assert muts["hgvsp_short"].dtype == "string"
    assert muts["hgvsp_short"].tolist()[:3] == ["p.X0", "p.X1", "p.X2"]
    assert isinstance(muts["sample_id"].dtype, pd.CategoricalDtype)


def test_blank_lines_are_skipped_and_lines_stay_exact(tmp_path: Path) -> None:
    lines = ["#version 2.4", "\t".join(HEADER), "\t".join(row("A")), "",
             "\t".join(row("B")), "", ""]
    path = tmp_path / "x.maf"
    path.write_text("\n".join(lines) + "\n")
    read = read_maf(path)
    assert read.mutations["hugo_symbol"].tolist() == ["A", "B"]
    assert read.mutations[SOURCE_ROW].tolist() == [3, 5] and read.n_rows == 2


def test_values_are_trimmed_and_whitespace_only_is_empty(tmp_path: Path) -> None:
    rows = [row(" TP53 ", sample=" S1", HGVSp_Short="  ", Start_Position=" 12 ",
                t_alt_count=" 10")]
    muts = load_maf(write(tmp_path / "x.maf", rows))
    assert muts["hugo_symbol"].tolist() == ["TP53"] and muts["sample_id"].tolist() == ["S1"]
    assert muts["hgvsp_short"].isna().all() and muts["start_position"].tolist() == [12]
    assert muts["vaf"].tolist() == [0.25]


def test_a_dot_read_count_is_missing(tmp_path: Path) -> None:
    muts = load_maf(write(tmp_path / "x.maf", [row(t_alt_count="."), row(t_ref_count=" . ")]))
    assert muts["vaf"].isna().all()


def test_crlf_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "x.maf"
    path.write_bytes(("\r\n".join(["\t".join(HEADER), "\t".join(row()),
                                   "\t".join(row("KRAS"))]) + "\r\n").encode())
    muts = load_maf(path)
    assert muts["hugo_symbol"].tolist() == ["TP53", "KRAS"] and muts["vaf"].tolist() == [
        0.25, 0.25]


def test_header_names_are_trimmed(tmp_path: Path) -> None:
    header = [f" {c} " if c in ("Hugo_Symbol", "t_alt_count") else c for c in HEADER]
    muts = load_maf(write(tmp_path / "x.maf", [row()], header))
    assert muts["hugo_symbol"].tolist() == ["TP53"] and muts["vaf"].tolist() == [0.25]


def test_repeated_column_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "x.maf", [row() + ["X"]], [*HEADER, "Hugo_Symbol"])
    (err,) = refusal(path)
    assert (err.row, err.column) == (2, "Hugo_Symbol") and "repeated" in err.message


def test_ragged_row_is_located(tmp_path: Path) -> None:
    path = write(tmp_path / "x.maf", [row(), row(), row()[:5]])
    (err,) = refusal(path)
    assert (err.row, "ragged" in err.message) == (5, True)


def test_empty_file_with_header_only(tmp_path: Path) -> None:
    read = read_maf(write(tmp_path / "x.maf", []))
    assert read.n_rows == 0 and read.mutations.empty and read.germline.empty
    assert list(read.mutations.columns) == [*CONTRACTS["mutations"].column_names, SOURCE_ROW]


# ------------------------------------------------------------------------------------------
# The cBioPortal corpus: every file with its verdict
# ------------------------------------------------------------------------------------------

CORPUS = "cbioportal/mutations"
UNKNOWN3 = {"Mutation_Status=Unknown": 3}
#: file -> (data rows, somatic, germline, dropped by reason); counted from the files.
LOADS: dict[str, tuple[int, int, int, dict[str, int]]] = {
    "data_mutations_absence_custom_annotation_columns_when_custom_values_columns.maf":
        (3, 0, 0, UNKNOWN3),
    "data_mutations_absence_custom_values_columns_when_custom_annotation_columns.maf":
        (3, 0, 0, UNKNOWN3),
    "data_mutations_custom_tiers_column_more_than_50_characters.maf": (3, 0, 0, UNKNOWN3),
    "data_mutations_empty_custom_annotation_fields.maf":
        (6, 0, 0, {"Mutation_Status=Unknown": 6}),
    "data_mutations_invalid_norm_samples.maf": (7, 7, 0, {}),
    "data_mutations_invalid_swissprot.maf": (7, 7, 0, {}),
    "data_mutations_missing_aa_change_column.maf": (7, 7, 0, {}),
    "data_mutations_missing_swissprot.maf": (7, 7, 0, {}),
    "data_mutations_missing_zygosity_status_column.maf": (1, 1, 0, {}),
    "data_mutations_more_than_10_types_in_driver_class.maf":
        (23, 0, 0, {"Mutation_Status=Unknown": 20, "Mutation_Status=LOH": 1,
                    "Mutation_Status=Wildtype": 2}),
    "data_mutations_more_than_80_characters_in_custom_annotation_columns.maf":
        (3, 0, 0, UNKNOWN3),
    "data_mutations_ms.maf":
        (13, 6, 1, {"Mutation_Status=test": 1, "Mutation_Status=None": 1,
                    "Mutation_Status=LOH": 1, "Mutation_Status=Post-transcriptional modification":
                    1, "Mutation_Status=Unknown": 1, "Mutation_Status=Wildtype": 1}),
    "data_mutations_name_swissprot.maf": (7, 7, 0, {}),
    "data_mutations_not_loaded_ms.maf":
        (13, 7, 1, {"Mutation_Status=None": 1, "Mutation_Status=loh": 1,
                    "Mutation_Status=Post-transcriptional modification": 1,
                    "Mutation_Status=Unknown": 1, "Mutation_Status=Wildtype": 1}),
    "data_mutations_not_supported_custom_driver_annotation_values.maf": (3, 0, 0, UNKNOWN3),
    "data_mutations_silent_alternative.maf": (13, 13, 0, {}),
    "data_mutations_some_silent.maf": (13, 13, 0, {}),
    "data_mutations_test_variant_types.maf": (10, 10, 0, {}),
    "data_mutations_too_long_hgvsp_short.maf": (2, 2, 0, {}),
    "data_mutations_validation_status.maf": (6, 1, 1, {"Mutation_Status=unknown": 4}),
    "data_mutations_vs.maf": (13, 13, 0, {}),
    "data_mutations_wrong_aa_change.maf": (7, 7, 0, {}),
}
#: file -> (line, MAF column) of the first error; the file is refused.
REFUSES: dict[str, tuple[int, str]] = {
    # Reference_Allele = Tumor_Seq_Allele1 = Tumor_Seq_Allele2 = G on line 2
    "data_mutations_check_special_cases_allele.maf": (2, "Tumor_Seq_Allele2"),
    # bytes 0x95 0xC0 in the Center column (cBioPortal: "File contains invalid UTF-8 bytes")
    "data_mutations_invalid_utf8.maf": (2, "Center"),
    # line 12 'Missense_mUtAtioN' (cBioPortal warns and keeps it; line 13 empty is its error)
    "data_mutations_invalid_variant_classification.maf": (12, "Variant_Classification"),
    # line 2 Start_Position '16449539.0' (cBioPortal: "not an integer"), then NA chromosomes
    "data_mutations_wrong_gene_position.maf": (2, "Start_Position"),
    # a meta file, not a MAF: refused for want of the MAF columns, on its first line
    "meta_mutations_invalid_swissprot_idspec.txt": (1, "Tumor_Sample_Barcode"),
}


def count_by_status(path: Path) -> tuple[int, int, int, Counter]:
    """(data rows, somatic, germline, dropped by reason) counted with the csv module."""
    with path.open(newline="", encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    somatic = germline = n = 0
    dropped: Counter = Counter()
    for rec in reader:
        n += 1
        status = (rec.get("Mutation_Status") or "").strip()
        validation = (rec.get("Validation_Status") or "").strip()
        if validation.lower() == "wildtype":
            dropped[f"Validation_Status={validation}"] += 1
        elif status.lower() in ("", "somatic"):
            somatic += 1
        elif status.lower() == "germline":
            germline += 1
        else:
            dropped[f"Mutation_Status={status}"] += 1
    return n, somatic, germline, dropped


def test_the_corpus_is_covered(shared_data: Path) -> None:
    files = {p.name for p in (shared_data / CORPUS).iterdir()}
    assert files == set(LOADS) | set(REFUSES) and len(files) == 27


@pytest.mark.parametrize("name", sorted(LOADS))
def test_corpus_file_loads(shared_data: Path, name: str) -> None:
    path = shared_data / CORPUS / name
    n_rows, somatic, germline, dropped = LOADS[name]
    assert count_by_status(path) == (n_rows, somatic, germline, Counter(dropped))
    read = read_maf(path)
    assert (read.n_rows, len(read.mutations), len(read.germline), read.dropped) == (
        n_rows, somatic, germline, dropped)
    assert read.n_rows == len(read.mutations) + len(read.germline) + sum(read.dropped.values())


@pytest.mark.parametrize("name", sorted(REFUSES))
def test_corpus_file_is_refused(shared_data: Path, name: str) -> None:
    path = shared_data / CORPUS / name
    line, column = REFUSES[name]
    errors = refusal(path)
    assert min(e.row for e in errors) == line
    assert located(errors, path, line, column)


def test_corpus_status_files_keep_germline_and_non_variants_out(shared_data: Path) -> None:
    ms = read_maf(shared_data / CORPUS / "data_mutations_ms.maf")
    assert ms.mutations["hugo_symbol"].tolist() == ["ADAMTS20", "MYB", "NPIPB15", "OTOR",
                                                    "P2RY10", "PIEZO1"]
    assert ms.mutations[SOURCE_ROW].tolist() == [5, 10, 11, 12, 13, 14]
    assert ms.germline["hugo_symbol"].tolist() == ["ABLIM1"]
    not_loaded = read_maf(shared_data / CORPUS / "data_mutations_not_loaded_ms.maf")
    assert not_loaded.mutations["hugo_symbol"].tolist() == [
        "TMEM247", "MSH3", "MYB", "NPIPB15", "OTOR", "P2RY10", "PIEZO1"]
    assert not_loaded.germline["hugo_symbol"].tolist() == ["CADM2"]
    for read in (ms, not_loaded):  # the Germline/Wildtype/LOH/None genes are not somatic
        assert not {"ABLIM1", "CADM2", "KAT2A", "OR11H1"} & set(read.mutations["hugo_symbol"])
