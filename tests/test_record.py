"""Patient record: units, vocabularies, every problem at once, the published schema, the frame."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest

from icipredict.features.builder import patient_frame
from icipredict.predict.record import (
    FRAME_COLUMNS,
    SCHEMA_PATH,
    RecordError,
    json_schema,
    parse_record,
    parse_records,
    read_record_list,
    record_cohort,
    record_frame,
)

BASE = {"patient_id": "P1", "cancer_type": "NSCLC"}


def test_units_are_converted_to_canonical():
    for albumin in ({"value": 38, "unit": "g/L"}, "38 g/L", 3.8, "3.8"):
        rec = parse_record({**BASE, "albumin": albumin})
        assert rec.albumin == pytest.approx(3.8)
    rec = parse_record({**BASE, "haemoglobin": {"value": 125, "unit": "g/L"},
                        "platelets": {"value": 250000, "unit": "/uL"},
                        "age": {"value": 780, "unit": "months"}})
    assert rec.haemoglobin == pytest.approx(12.5)
    assert rec.platelets == pytest.approx(250)
    assert rec.age == pytest.approx(65)


def test_vocabularies_are_harmonised():
    rec = parse_record({"cancer_type": "Lung adenocarcinoma", "sex": "F", "stage_iv": "IVb",
                        "drug": "Nivolumab + Ipilimumab", "prior_systemic_therapy": "yes",
                        "msi_status": "stable", "panel": "impact468"})
    assert rec.cancer_type == "NSCLC"
    assert rec.sex == "female"
    assert rec.stage_iv == 1
    assert rec.resolved_drug_class() == "combination"
    assert rec.prior_systemic_therapy == 1
    assert rec.msi_status == "MSS"
    assert rec.panel == "MSK-IMPACT468"


def test_every_problem_is_reported_at_once():
    bad = {"cancer_type": "Martian cancer", "albumin": 38, "age": {"value": 3, "unit": "parsec"},
           "ecog": 1.5, "sex": "q", "drug": "aspirin", "tmbb": 10,
           "images": [{"image": "ct.nrrd"}]}
    with pytest.raises(RecordError) as info:
        parse_record(bad)
    fields = {p["field"] for p in info.value.problems}
    assert fields == {"cancer_type", "albumin", "age", "ecog", "sex", "drug", "tmbb",
                      "images.0.mask"}
    text = str(info.value)
    assert "8 problem(s)" in text
    assert "wrong unit" in text  # a g/L albumin sent as a bare number is caught
    assert "parsec" in text


def test_missing_cancer_type_and_bad_json(tmp_path):
    with pytest.raises(RecordError) as info:
        parse_record({"age": 60})
    assert info.value.problems == [{"field": "cancer_type", "message": "required field is missing"}]
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        parse_record(path)
    with pytest.raises(RecordError, match="no such file"):
        parse_record(tmp_path / "absent.json")


def test_list_reports_problems_of_every_row():
    rows = [{"patient_id": "A", "cancer_type": "MEL"}, {"patient_id": "B", "cancer_type": "??"},
            {"patient_id": "C", "cancer_type": "MEL", "albumin": 70}]
    with pytest.raises(RecordError) as info:
        parse_records(rows)
    assert [p["field"] for p in info.value.problems] == ["record 2 (B).cancer_type",
                                                         "record 3 (C).albumin"]


def test_published_schema_is_current_and_validates_examples():
    published = json.loads(SCHEMA_PATH.read_text())
    assert published == json_schema(), "run predict.record.write_json_schema() after changes"
    validator = jsonschema.Draft202012Validator(published)
    validator.validate({**BASE, "albumin": {"value": 38, "unit": "g/L"},
                        "mutations": ["STK11", {"gene": "KEAP1"}]})
    assert list(validator.iter_errors({"cancer_type": "MEL", "albumin": {"value": 3}}))
    assert list(validator.iter_errors({"cancer_type": "MEL", "unknown_field": 1}))


def test_csv_list_with_units(tmp_path):
    path = tmp_path / "week.csv"
    path.write_text("patient_id,cancer_type,albumin,mutations\nA,MEL,35 g/L,STK11;KEAP1\n"
                    "B,NSCLC,,\n")
    rows = read_record_list(path)
    recs = parse_records(rows)
    assert recs[0].albumin == pytest.approx(3.5)
    assert recs[0].mutations == ["STK11", "KEAP1"]
    assert recs[1].albumin is None


RECORDS = [
    {**BASE, "age": 70, "sex": "male", "albumin": 3.9, "nlr": 4.2, "drug": "pembrolizumab",
     "panel": "MSK-IMPACT468", "tmb": 12.0,
     "mutations": ["STK11", {"gene": "TP53", "variant_classification": "Nonsense_Mutation"},
                   {"gene": "KRAS", "variant_classification": "Silent"}]},
    {"patient_id": "P2", "cancer_type": "MEL", "tmb": 30.5, "msi_status": "MSI-H", "fcna": 0.2,
     "neutrophils": 6, "lymphocytes": 1.5, "ecog": 1, "stage_iv": 1},
    {"patient_id": "P3", "cancer_type": "BLCA", "drug_class": "PD-1/PD-L1"},
    {"patient_id": "P4", "cancer_type": "RCC", "mutations": ["PBRM1"], "panel_size_mb": 1.1},
]


@pytest.mark.parametrize("raw", RECORDS, ids=lambda r: r["patient_id"])
def test_fast_frame_matches_patient_frame(raw):
    """The fast path builds the same model input as the features stage does for training."""
    rec = parse_record(raw)
    fast = record_frame(rec)
    slow = record_frame(rec, fast=False)
    reference = patient_frame(record_cohort(rec, rec.patient_id)).reindex(columns=FRAME_COLUMNS)
    assert list(fast.columns) == FRAME_COLUMNS
    pd.testing.assert_frame_equal(fast, slow)
    for col in FRAME_COLUMNS:
        a, b = fast.iloc[0][col], reference.iloc[0][col]
        if pd.isna(b):
            assert pd.isna(a), col
        elif isinstance(b, str):
            assert a == b, col
        else:
            assert float(a) == pytest.approx(float(b)), col


def test_mutation_list_gives_tmb_and_flags():
    fast = record_frame(parse_record(RECORDS[0])).iloc[0]
    assert fast["tmb"] == pytest.approx(2 / 1.22)  # Silent does not count
    assert fast["tmb_source"] == "computed"
    assert fast["mut_STK11"] == 1 and fast["mut_TP53"] == 1 and fast["mut_KRAS"] == 0
    no_panel = record_frame(parse_record(RECORDS[1])).iloc[0]
    assert np.isnan(no_panel["mut_STK11"])  # not profiled is missing, never wild type
    assert no_panel["tmb"] == pytest.approx(30.5)
    empty = record_frame(parse_record({**BASE, "panel": "WES", "mutations": []})).iloc[0]
    assert empty["tmb"] == 0 and empty["mut_TP53"] == 0


def test_completeness_and_radiomics():
    rec = parse_record({**BASE, "age": 60, "albumin": 4, "radiomics": {"original_shape_Volume":
                                                                        1200.0}})
    comp = rec.completeness()
    assert comp["clinical"] == pytest.approx(2 / 12)
    assert comp["genomic"] == 0 and comp["imaging"] == 1
    frame = record_frame(rec)
    assert frame.iloc[0]["radiomics_original_shape_Volume"] == 1200.0
