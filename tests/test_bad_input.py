"""Broken inputs: every loader error names the file, the row (when row-level) and the column."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import yaml

from icipredict.cohort._frame import vocabulary_policy
from icipredict.cohort.loaders import load_column_map, load_maf
from icipredict.cohort.schema import CohortError, CohortErrors

GOOD = {
    "pid": ["p1", "p2", "p3"],
    "Tumour": ["Melanoma", "NSCLC", "Renal"],
    "OS (months)": ["10.5", "3.2", "22"],
    "Died": ["1", "0", "1"],
    "Alb": ["4.1", "3.2", "3.9"],
}
COLUMNS = {
    "patient_id": "pid",
    "cancer_type": "Tumour",
    "os_months": {"column": "OS (months)", "unit": "months"},
    "os_event": {"column": "Died", "event_value": 1},
    "albumin": {"column": "Alb", "unit": "g/dL"},
}


def setup(tmp_path: Path, data: dict | None = None, columns: dict | None = None,
          *, fmt: str = "csv", sheet: str | None = None) -> tuple[Path, Path]:
    """Write a data file and its column map; return (map path, data path)."""
    df = pd.DataFrame(data or GOOD)
    path = tmp_path / f"centre.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        with pd.ExcelWriter(path) as xl:
            df.to_excel(xl, sheet_name="clinical", index=False)
    file_map = {"path": path.name, "columns": columns or COLUMNS}
    if sheet:
        file_map["sheet"] = sheet
    cmap = tmp_path / "map.yaml"
    cmap.write_text(yaml.safe_dump({"name": "t", "centre": "C", "files": [file_map]}))
    return cmap, path


def error_of(cmap: Path) -> CohortError:
    """The error of a strict load (unknown vocabulary refused, as ``ingest --strict``)."""
    with pytest.raises(CohortError) as info, vocabulary_policy(strict=True):
        load_column_map(cmap)
    return info.value


def located(err: CohortError, file: Path, row: int | None, column: str) -> bool:
    """Whether ``err`` (or one of several) points at file/row/column."""
    errors = err.errors if isinstance(err, CohortErrors) else [err]
    return any(Path(e.file or "").name == file.name and e.row == row and e.column == column
               for e in errors)


def with_value(column: str, index: int, value: str) -> dict:
    data = {k: list(v) for k, v in GOOD.items()}
    data[column][index] = value
    return data


def test_good_file_loads(tmp_path: Path) -> None:
    cmap, _ = setup(tmp_path)
    assert len(load_column_map(cmap).patients) == 3


def test_missing_source_column(tmp_path: Path) -> None:
    data = {k: v for k, v in GOOD.items() if k != "Died"}
    cmap, path = setup(tmp_path, data)
    err = error_of(cmap)
    assert located(err, path, None, "Died")
    assert "column not found" in str(err) and str(path) in str(err)


def test_required_canonical_column_not_mapped(tmp_path: Path) -> None:
    columns = {k: v for k, v in COLUMNS.items() if k != "cancer_type"}
    cmap, path = setup(tmp_path, columns=columns)
    err = error_of(cmap)
    assert (err.file, err.row, err.column) == (str(cmap), None, "cancer_type")
    assert "mapped by no file" in str(err)


def test_wrong_unit_declared_albumin_g_dl_but_values_g_l(tmp_path: Path) -> None:
    data = dict(GOOD, Alb=["41", "32", "39"])  # g/L values declared as g/dL
    cmap, path = setup(tmp_path, data)
    err = error_of(cmap)
    assert isinstance(err, CohortErrors)
    assert located(err, path, 2, "Alb") and located(err, path, 4, "Alb")
    assert "wrong unit" in str(err) and "'g/dL'" in str(err)


def test_unknown_unit_string(tmp_path: Path) -> None:
    columns = dict(COLUMNS, albumin={"column": "Alb", "unit": "grams per bucket"})
    cmap, path = setup(tmp_path, columns=columns)
    err = error_of(cmap)
    assert located(err, path, None, "Alb")
    assert "unknown unit 'grams per bucket'" in str(err) and "g/l" in str(err)


def test_negative_time(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path, with_value("OS (months)", 1, "-2"))
    err = error_of(cmap)
    assert located(err, path, 3, "OS (months)")
    assert "below plausible minimum 0" in str(err)


def test_non_numeric_time(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path, with_value("OS (months)", 2, "ten"))
    err = error_of(cmap)
    assert located(err, path, 4, "OS (months)")
    assert "expected a number, got 'ten'" in str(err)


@pytest.mark.parametrize("bad", ["2", "yes please"])
def test_event_not_0_1(tmp_path: Path, bad: str) -> None:
    cmap, path = setup(tmp_path, with_value("Died", 0, bad))
    err = error_of(cmap)
    assert located(err, path, 2, "Died")
    assert f"got {bad!r}" in str(err)


def test_event_not_0_1_without_event_value(tmp_path: Path) -> None:
    columns = dict(COLUMNS, os_event="Died")
    cmap, path = setup(tmp_path, with_value("Died", 2, "3"), columns)
    err = error_of(cmap)
    assert located(err, path, 4, "Died") and "expected 0 or 1" in str(err)


def test_duplicate_patient_ids(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path, with_value("pid", 2, "p1"))
    err = error_of(cmap)
    assert located(err, path, 4, "pid")
    assert "duplicate" in str(err) and "'p1'" in str(err)
    assert not isinstance(err, CohortErrors)  # reported once, not once per table


def test_duplicate_patient_ids_across_stacked_files(tmp_path: Path) -> None:
    pd.DataFrame(GOOD).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame(GOOD).iloc[[1]].to_csv(tmp_path / "b.csv", index=False)
    cmap = tmp_path / "map.yaml"
    cmap.write_text(yaml.safe_dump({"name": "t", "centre": "C", "files": [
        {"path": "a.csv", "columns": COLUMNS}, {"path": "b.csv", "columns": COLUMNS}]}))
    err = error_of(cmap)
    assert located(err, tmp_path / "b.csv", 2, "pid")
    assert "a.csv row 3" in str(err)


def test_unknown_cancer_type(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path, with_value("Tumour", 1, "Dragon pox"))
    err = error_of(cmap)
    assert located(err, path, 3, "Tumour")
    assert "unknown cancer type 'Dragon pox'" in str(err)


@pytest.mark.parametrize("value", ["Dragon pox", "CNS"])
def test_unknown_cancer_type_kept_as_other_with_a_warning(tmp_path: Path, caplog,
                                                          value: str) -> None:
    """Not strict (the default): one unknown type does not fail the file; it is kept as OTHER."""
    cmap, path = setup(tmp_path, with_value("Tumour", 1, value))
    with caplog.at_level("WARNING"), vocabulary_policy() as notes:
        cohort = load_column_map(cmap)
    types = cohort.patients.set_index("patient_id")["cancer_type"]
    assert types.to_dict() == {"p1": "MEL", "p2": "OTHER", "p3": "RCC"}
    assert f"unknown cancer type '{value}'" in caplog.text and "Tumour" in caplog.text
    assert notes == {f"centre.csv: Tumour value '{value}' unknown, kept as 'OTHER'": 1}


def test_unknown_vocabulary_values_become_missing(tmp_path: Path, caplog) -> None:
    data = dict(GOOD, Sex=["male", "female", "dragon"], BOR=["PR", "Stable-ish", "CR"])
    columns = dict(COLUMNS, sex="Sex", bor="BOR")
    cmap, path = setup(tmp_path, data, columns)
    with caplog.at_level("WARNING"), vocabulary_policy() as notes:
        cohort = load_column_map(cmap)
    p = cohort.patients.set_index("patient_id")
    assert p["sex"].tolist()[:2] == ["male", "female"] and pd.isna(p.loc["p3", "sex"])
    assert len(notes) == 2 and all("kept as missing" in k for k in notes)
    assert "dragon" in caplog.text and "Stable-ish" in caplog.text


def test_value_not_in_declared_recoding(tmp_path: Path) -> None:
    data = dict(GOOD, Sex=["1", "0", "9"])
    columns = dict(COLUMNS, sex={"column": "Sex", "values": {1: "male", 0: "female"}})
    cmap, path = setup(tmp_path, data, columns)
    err = error_of(cmap)
    assert located(err, path, 4, "Sex") and "unexpected value '9'" in str(err)


def test_several_problems_reported_together(tmp_path: Path) -> None:
    data = with_value("OS (months)", 0, "-1")
    data["Tumour"][2] = "Unicorn"
    cmap, path = setup(tmp_path, data)
    err = error_of(cmap)
    assert isinstance(err, CohortErrors) and len(err.errors) == 2
    assert located(err, path, 2, "OS (months)") and located(err, path, 4, "Tumour")


def test_xlsx_sheet_that_does_not_exist(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path, fmt="xlsx", sheet="Clinical data")
    err = error_of(cmap)
    assert err.file == str(path)
    assert "sheet 'Clinical data' does not exist" in str(err) and "['clinical']" in str(err)


def test_xlsx_row_numbers_point_at_sheet_rows(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path, with_value("OS (months)", 1, "-5"), fmt="xlsx",
                       sheet="clinical")
    assert located(error_of(cmap), path, 3, "OS (months)")


def test_ragged_csv(tmp_path: Path) -> None:
    cmap, path = setup(tmp_path)
    path.write_text(path.read_text() + "p4,Melanoma,1,1,4.0,EXTRA,MORE\n")
    err = error_of(cmap)
    assert err.file == str(path) and err.row == 5


# ------------------------------------------------------------------------------------------
# MAF
# ------------------------------------------------------------------------------------------

MAF = ("#version 2.4\n"
       "Hugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\tStart_Position\n"
       "BRCA1\tS1\tMissense_Mutation\t43045712\n"
       "TP53\tS2\tNonsense_Mutation\t7673802\n")


def test_maf_missing_required_column(tmp_path: Path) -> None:
    path = tmp_path / "x.maf"
    path.write_text(MAF.replace("Variant_Classification", "VarClass"))
    with pytest.raises(CohortError) as info:
        load_maf(path)
    err = info.value
    assert err.file == str(path) and err.row == 2 and err.column == "Variant_Classification"


def test_maf_ragged_row(tmp_path: Path) -> None:
    path = tmp_path / "x.maf"
    path.write_text(MAF + "KRAS\tS3\tMissense_Mutation\n")
    with pytest.raises(CohortError) as info:
        load_maf(path)
    assert info.value.file == str(path) and info.value.row == 5
    assert "ragged" in str(info.value)


def test_maf_non_numeric_position(tmp_path: Path) -> None:
    path = tmp_path / "x.maf"
    path.write_text(MAF.replace("7673802", "chr17:7673802"))
    with pytest.raises(CohortError) as info:
        load_maf(path)
    err = info.value
    assert (err.file, err.row, err.column) == (str(path), 4, "Start_Position")


def test_maf_missing_gene_value(tmp_path: Path) -> None:
    path = tmp_path / "x.maf"
    path.write_text(MAF.replace("TP53", ""))
    with pytest.raises(CohortError) as info:
        load_maf(path)
    err = info.value
    assert (err.file, err.row, err.column) == (str(path), 4, "Hugo_Symbol")


def test_truncated_gzip_maf(tmp_path: Path) -> None:
    body = MAF + "".join(f"GENE{i}\tS{i % 7}\tSilent\t{1000 + i}\n" for i in range(5000))
    blob = gzip.compress(body.encode())
    path = tmp_path / "x.maf.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CohortError) as info:
        load_maf(path)
    assert info.value.file == str(path) and "gzip" in str(info.value)


def test_not_gzip_despite_suffix_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "x.maf.gz"
    path.write_text(MAF)  # plain text with a .gz name: read by content, not by suffix
    assert len(load_maf(path)) == 2
