"""Harmonisation: units, cancer types, drugs, RECIST, panels, small vocabularies, value matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icipredict.cohort import harmonise as hz
from icipredict.cohort._frame import harmonise_frame, norm_key, vocabulary_policy
from icipredict.cohort.column_map import ColumnSpec
from icipredict.cohort.schema import CohortError


@pytest.mark.parametrize(("column", "unit", "value", "expected"), [
    ("albumin", "g/L", 40.0, 4.0),
    ("albumin", "g/dL", 4.0, 4.0),
    ("os_months", "days", 365.25, 12.0),
    ("os_months", "weeks", 365.25 / 7, 12.0),
    ("pfs_months", "years", 2.0, 24.0),
    ("haemoglobin", "g/L", 125.0, 12.5),
    ("platelets", "/uL", 250_000.0, 250.0),
    ("platelets", "10^9/L", 250.0, 250.0),
    ("fcna", "%", 25.0, 0.25),
    ("pdl1_tps", "fraction", 0.5, 50.0),
])
def test_convert_units(column: str, unit: str, value: float, expected: float) -> None:
    got = hz.convert_units(pd.Series([value]), column, unit)
    assert got.iloc[0] == pytest.approx(expected)


def test_unknown_unit_lists_the_known_ones() -> None:
    with pytest.raises(CohortError, match=r"unknown unit 'mg/dL' for albumin.*g/l"):
        hz.unit_factor("albumin", "mg/dL")


@pytest.mark.parametrize(("name", "code"), [
    ("Melanoma", "MEL"), ("NSCLC", "NSCLC"), ("Non-Small Cell Lung Cancer", "NSCLC"),
    ("Head & Neck", "HNSC"), ("Bladder Cancer", "BLCA"), ("Renal Cell Carcinoma", "RCC"),
    ("Esophagogastric Cancer", "ESCA"), ("Hepatobiliary Cancer", "HB"), ("Unknown primary", "CUP"),
    ("COADREAD", "COADREAD"), ("  small cell lung cancer ", "SCLC"), ("Soft Tissue Sarcoma", "SARC"),
])
def test_to_oncotree(name: str, code: str) -> None:
    assert hz.to_oncotree(name) == code


@pytest.mark.parametrize("bad", ["Lung", "Dragon pox", 3, None])
def test_to_oncotree_unknown(bad: object) -> None:
    with pytest.raises(CohortError, match="unknown cancer type"):
        hz.to_oncotree(bad)


def test_oncotree_groups_follow_chowell() -> None:
    assert hz.cancer_type_group("MEL") == "Melanoma"
    assert hz.cancer_type_group("NSCLC") == "NSCLC"
    assert hz.cancer_type_group("SCLC") == "Others"
    assert hz.cancer_type_label("HNSC") == "Head & Neck"


@pytest.mark.parametrize(("drug", "cls"), [
    ("Pembrolizumab", "PD-1/PD-L1"), ("atezolizumab", "PD-1/PD-L1"), ("Ipilimumab", "CTLA-4"),
    ("Nivolumab + Ipilimumab", "combination"), ("nivolumab/ipilimumab", "combination"),
    ("Combo", "combination"), ("PD1/PDL1", "PD-1/PD-L1"), ("PD-1/PDL-1", "PD-1/PD-L1"),
    ("CTLA4", "CTLA-4"), ("durvalumab and tremelimumab", "combination"),
])
def test_drug_class(drug: str, cls: str) -> None:
    assert hz.drug_class(drug) == cls


def test_drug_class_unknown_drug() -> None:
    with pytest.raises(CohortError, match="unknown drug 'aspirin'"):
        hz.drug_class("pembrolizumab + aspirin")


def test_recist_and_responder() -> None:
    bor = pd.Series(["complete response", "PR", "sd", "Progressive Disease", "NE", None]).map(
        lambda v: hz.to_recist(v) if v is not None else None)
    assert bor.tolist() == ["CR", "PR", "SD", "PD", "NE", None]
    assert hz.responder_from_recist(bor).tolist() == [1, 1, 0, 0, 0, pd.NA]
    with pytest.raises(CohortError, match="unknown RECIST"):
        hz.to_recist("iCPD")


def test_panels() -> None:
    assert hz.panel_size_mb("IMPACT468") == pytest.approx(1.22)
    assert hz.panel_size_mb("msk-impact 341") == pytest.approx(0.98)
    assert hz.panel_size_mb("F1CDx") == pytest.approx(0.8)
    assert hz.to_panel("MSK-IMPACT") == "MSK-IMPACT"
    assert np.isnan(hz.panel_size_mb("MSK-IMPACT"))  # version unknown: size unknown, not guessed
    with pytest.raises(CohortError, match="unknown sequencing panel"):
        hz.to_panel("MyLabPanel v2")


def test_small_vocabularies() -> None:
    assert [hz.to_sex(v) for v in ("M", "female", " Male ")] == ["male", "female", "male"]
    with pytest.raises(CohortError, match="values: {1: male, 0: female}"):
        hz.to_sex("1")
    assert [hz.to_msi_status(v) for v in ("Instable", "Stable", "1", 0, 1.0)] == [
        "MSI-H", "MSS", "MSI-H", "MSS", "MSI-H"]
    assert hz.to_msi_status("Indeterminate") is None
    assert hz.to_smoking("ex-smoker") == "former"
    assert [hz.stage_iv_flag(v) for v in ("IV", "IIIB", "ivc")] == [1, 0, 1]


@pytest.mark.parametrize(("a", "b"), [(1, "1"), (1.0, "1"), (" 1 ", "1"), ("PR", "pr"),
                                      (True, "1"), ("0.5", 0.5)])
def test_norm_key_matches_equivalent_spellings(a: object, b: object) -> None:
    assert norm_key(a) == norm_key(b)


def test_harmonise_frame_codings_and_derivations() -> None:
    raw = pd.DataFrame({
        "id": ["1", "2", "3", "4"],
        "status": ["1:DECEASED", "0:LIVING", None, "1:DECEASED"],
        "censored": ["1", "0", "0", "1"],  # 1 = censored in this centre
        "stage": ["IV", "III", "1", "0"],
        "neut": ["6", "4", None, "3"],
        "lymph": ["2", "0", "1", "1.5"],
        "drug": ["Nivolumab", "nivolumab + ipilimumab", None, "Ipilimumab"],
        "bor": ["CR", "SD", None, "pd"],
    })
    h = harmonise_frame(raw, {
        "patient_id": ColumnSpec(column="id"),
        "os_event": ColumnSpec(column="status"),
        "pfs_event": ColumnSpec(column="censored", event_value=0),
        "stage_iv": ColumnSpec(column="stage"),
        "neutrophils": ColumnSpec(column="neut"),
        "lymphocytes": ColumnSpec(column="lymph"),
        "drug": ColumnSpec(column="drug"),
        "bor": ColumnSpec(column="bor"),
    }, file="f.csv", rows=np.arange(2, 6), id_prefix="c1-")
    assert h.errors == []
    f = h.frame
    assert f["patient_id"].tolist() == ["c1-1", "c1-2", "c1-3", "c1-4"]
    assert f["os_event"].tolist()[:2] == [1, 0] and np.isnan(f["os_event"].iloc[2])
    assert f["pfs_event"].tolist() == [0, 1, 1, 0]
    assert f["stage_iv"].tolist() == [1, 0, 1, 0]  # roman numerals decoded, 0/1 kept
    nlr = f["nlr"].tolist()
    assert nlr[0] == 3.0 and np.isnan(nlr[1]) and np.isnan(nlr[2]) and nlr[3] == 2.0
    assert f["drug_class"].tolist() == ["PD-1/PD-L1", "combination", None, "CTLA-4"]
    assert f["responder"].tolist()[:2] == [1, 0] and f["responder"].iloc[3] == 0
    assert np.isnan(f["responder"].iloc[2])  # no BOR -> unknown, not non-responder
    assert h.column_names["nlr"] == "neut/lymph"


def test_harmonise_frame_collects_located_errors() -> None:
    raw = pd.DataFrame({"id": ["a", "b", "c"], "t": ["1", "x", "y"], "ct": ["MEL", "Foo", "MEL"]})
    specs = {"patient_id": ColumnSpec(column="id"), "os_months": ColumnSpec(column="t"),
             "cancer_type": ColumnSpec(column="ct")}
    with vocabulary_policy(strict=True):
        h = harmonise_frame(raw, specs, file="f.csv", rows=np.array([2, 3, 4]))
    located = sorted((e.row, e.column) for e in h.errors)
    assert located == [(3, "ct"), (3, "t"), (4, "t")]
    assert all(e.file == "f.csv" for e in h.errors)
    # not strict: the unknown type is kept as OTHER, the bad numbers are still errors
    h = harmonise_frame(raw, specs, file="f.csv", rows=np.array([2, 3, 4]))
    assert sorted((e.row, e.column) for e in h.errors) == [(3, "t"), (4, "t")]
    assert h.frame["cancer_type"].tolist() == ["MEL", "OTHER", "MEL"]
