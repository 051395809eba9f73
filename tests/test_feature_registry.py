"""The feature registry: one entry per feature feeds the builder, schema, record and reasons."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from icipredict.features import registry
from icipredict.features.builder import FeatureBuilder
from icipredict.features.encoders import Derive
from icipredict.features.spec import FeatureSpec
from icipredict.predict.explain import top_reasons
from icipredict.predict.record import (
    PatientRecord,
    RecordError,
    parse_record,
    record_frame,
    record_model,
)
from icipredict.registry.schema import input_columns


def test_nlr_from_counts_only_where_missing():
    frame = pd.DataFrame({"nlr": [3.0, np.nan, np.nan, np.nan],
                          "neutrophils": [9.0, 6.0, 5.0, np.nan],
                          "lymphocytes": [1.0, 1.5, 0.0, 2.0]})
    out = registry.get("nlr").values(frame)
    assert out[0] == 3.0                 # given value wins over counts (9/1)
    assert out[1] == pytest.approx(4.0)  # computed 6 / 1.5
    assert np.isnan(out[2])              # lymphocytes 0 -> missing, not inf
    assert np.isnan(out[3])
    assert registry.get("nlr").values(pd.DataFrame({"neutrophils": [4.0],
                                                    "lymphocytes": [2.0]}))[0] == 2.0


def test_vocabularies_caps_and_cancer_group():
    frame = pd.DataFrame({
        "sex": ["male", "female", None, "other"],
        "drug_class": ["combination", "PD-1/PD-L1", None, "CTLA-4"],
        "msi_status": ["MSI-H", "MSS", None, "indeterminate"],
        "cancer_type": ["Melanoma", "NSCLC", "Renal", None],
        "tmb": [10.0, 80.0, np.nan, 3.0], "age": [90.0, 40.0, 50.0, 60.0],
    })
    out = Derive(["sex", "drug_combination", "msi_high", "tmb", "age", "cancer_group"],
                 caps={"tmb": 50, "age": 85}).fit(frame).transform(frame)
    assert list(out.columns) == ["sex_male", "drug_combination", "msi_high", "tmb", "age",
                                 "cancer_group"]
    np.testing.assert_array_equal(out.to_numpy(), [
        [1, 1, 1, 10, 85, 0], [0, 0, 0, 50, 40, 1],
        [np.nan, np.nan, np.nan, np.nan, 50, 2], [np.nan, 0, np.nan, 3, 60, np.nan]])


def test_spec_lists_the_registry():
    assert FeatureSpec(name="x").clinical == list(registry.names("clinical"))
    with pytest.raises(ValueError, match="unknown clinical feature"):
        FeatureSpec(name="x", clinical=["height"])


def test_radiomics_read_as_words_with_the_engine_name_as_tooltip():
    entry = registry.get("radiomics_original_firstorder_Entropy")
    assert entry.label == "Tumour texture (entropy)"
    assert entry.tooltip == "pyradiomics: original_firstorder_Entropy"
    assert registry.get("radiomics_original_shape_VoxelVolume").label == \
        "Tumour shape (voxel volume)"
    assert registry.get("radiomics_wavelet-LLH_glcm_Contrast").label == \
        "Tumour texture (contrast, wavelet-LLH filter)"


def test_reasons_are_sentences_and_never_imputed():
    out_row = pd.Series({"contrib_prior_systemic_therapy": 0.5, "contrib_ecog": -0.9,
                         "contrib_cancer_type_MEL": 0.4, "contrib_sex_male": -0.3,
                         "contrib_radiomics_original_firstorder_Entropy": -0.2,
                         "contrib_drug_class_PD_1_PD_L1": 0.1,
                         "contrib_missing_genomic": -0.05, "missing_modalities": "genomic"})
    frame_row = pd.Series({"prior_systemic_therapy": 0.0, "ecog": np.nan,
                           "cancer_type": "Melanoma", "sex": "female",
                           "radiomics_original_firstorder_Entropy": 2.35,
                           "drug_class": "CTLA-4"}, dtype=object)
    reasons = top_reasons(out_row, frame_row, k=10)
    texts = [r.text for r in reasons]
    assert texts == [
        "No prior systemic therapy — raises the chance of response",
        "Cancer type: Melanoma — raises the chance of response",
        "Female sex — lowers the chance of response",
        "Tumour texture (entropy) 2.35 — lowers the chance of response",
        "Drug class: not PD-1/PD-L1 — raises the chance of response",
        "No genomic data — lowers the chance of response"]
    assert "ecog" not in [r.feature for r in reasons]  # not given: imputed, not a reason
    assert reasons[3].tooltip == "pyradiomics: original_firstorder_Entropy"


@pytest.fixture
def crp():
    """A new clinical feature, declared by one registry entry (removed after the test)."""
    entry = registry.register(registry.Feature(
        "crp", "clinical", "C-reactive protein", unit="mg/L", plausible=(0.0, 500.0)))
    yield entry
    registry.unregister("crp")


def test_one_entry_adds_a_feature_everywhere(crp):
    spec = FeatureSpec(name="crp", clinical=["age", "crp"], genomic=["tmb"])
    train = pd.DataFrame({"cancer_type": ["NSCLC"] * 12, "age": np.linspace(40, 80, 12),
                          "tmb": np.linspace(1, 30, 12), "crp": np.linspace(1, 100, 12)})
    builder = FeatureBuilder(spec).fit(train)
    assert "crp" in builder.feature_names_out_  # builder
    assert {"name": "crp", "type": "double", "required": False, "modality": "clinical"} in \
        input_columns(builder)  # the registry model's input schema
    record = parse_record({"cancer_type": "NSCLC", "age": 61, "crp": 12})  # the record
    assert isinstance(record, PatientRecord) and record.crp == 12
    assert "crp" in record_model().model_json_schema()["properties"]
    with pytest.raises(RecordError, match="crp"):
        parse_record({"cancer_type": "NSCLC", "crp": 900})  # outside the plausible range
    frame = record_frame(record)
    assert frame["crp"].iloc[0] == 12.0
    assert builder.transform(frame)["crp"].iloc[0] == 12.0
    reasons = top_reasons(pd.Series({"contrib_crp": 0.7}), frame.iloc[0])  # the explanation
    assert reasons[0].text == "C-reactive protein 12 mg/L — raises the chance of response"


def test_completeness_counts_only_features_the_model_uses_and_saw(caplog):
    spec = {"name": "g", "modalities": ["clinical", "genomic"], "clinical": ["age", "albumin"],
            "genomic": ["tmb", "hed"], "genes": ["STK11", "KEAP1", "POLE"],
            "imputation": "median"}
    train = pd.DataFrame({"cancer_type": ["NSCLC"] * 6, "age": range(50, 56),
                          "albumin": [3.5] * 6, "tmb": range(6), "mut_STK11": [0, 1] * 3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not warned at every fit, transform or load ...
        builder = FeatureBuilder(spec).fit(train)
        again = FeatureBuilder.from_json(builder.to_json())
        again.transform(train)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert again.empty_columns_ == builder.empty_columns_  # ... the training run reports it
    # hed, KEAP1 and POLE had no training values: dropped, so not asked of a patient
    assert builder.empty_columns_ == ["hed", "mut_KEAP1", "mut_POLE"]
    complete = pd.DataFrame({"cancer_type": ["NSCLC"], "age": [60], "albumin": [3.9],
                             "tmb": [12.0], "mut_STK11": [0.0]})
    assert builder.completeness(complete).iloc[0].to_dict() == {"clinical": 1.0, "genomic": 1.0}
    half = complete.assign(mut_STK11=np.nan)
    assert builder.completeness(half).iloc[0].to_dict() == {"clinical": 1.0, "genomic": 0.5}
