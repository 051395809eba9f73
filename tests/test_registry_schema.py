"""The registry model's schema: inputs from the builder, params, checks, JSON-safe numbers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from icipredict.errors import InputError
from icipredict.features.builder import FeatureBuilder
from icipredict.registry import schema


def test_derived_features_are_not_declared_as_inputs():
    """drug_combination is computed from drug_class: the input schema must not offer it."""
    frame = pd.DataFrame({"cancer_type": ["NSCLC", "MEL"], "age": [60.0, 70.0],
                          "drug_class": ["combination", "PD-1/PD-L1"]})
    builder = FeatureBuilder({"name": "t", "modalities": ["clinical"],
                              "clinical": ["age", "drug_combination", "drug_class"]}).fit(frame)
    names = [c["name"] for c in schema.input_columns(builder)]
    assert "drug_combination" not in names and names.count("drug_class") == 1
    assert builder.transform(frame)["drug_combination"].tolist() == [1.0, 0.0]


def test_params_defaults_and_bad_horizons():
    assert schema.read_params(None) == ([6.0, 12.0, 24.0], True, False)
    assert schema.read_params({"horizons": 12, "intervals": False, "explain": True}) == (
        [12.0], False, True)
    for bad in ([0], [-3.0], [float("nan")], [float("inf")]):
        with pytest.raises(InputError, match="horizons must be positive"):
            schema.read_params({"horizons": bad})
    assert schema.output_columns([6.5, 12])[4:6] == ["os_survival_6.5m", "os_survival_12m"]


def test_input_checks_name_the_row_and_column():
    columns = [{"name": "cancer_type", "type": "string", "required": True,
                "modality": "clinical"},
               {"name": "age", "type": "double", "required": False, "modality": "clinical"}]
    with pytest.raises(InputError, match="required input column.*cancer_type"):
        schema.check_input(pd.DataFrame({"age": [1.0]}), columns)
    with pytest.raises(InputError, match="age.*'sixty'") as err:
        schema.check_input(pd.DataFrame({"cancer_type": ["MEL"] * 2, "age": [60, "sixty"]}),
                           columns)
    assert (err.value.row, err.value.column) == (2, "age")
    with pytest.raises(InputError, match="DataFrame"):
        schema.check_input([1, 2], columns)
    caller = pd.DataFrame({"cancer_type": pd.Series(["MEL", None], dtype="string"),
                           "age": [61, 70]})
    frame = schema.check_input(caller, columns)
    assert frame["age"].dtype == float and caller["age"].dtype == np.int64  # caller untouched
    assert frame["cancer_type"].tolist() == ["MEL", None]
    assert schema.check_input({"cancer_type": "MEL"}, columns).shape == (1, 1)


def test_json_safe_numbers_never_nan_or_infinity():
    values = np.array([1.5, np.nan, np.inf, -np.inf, 2.0])
    out = schema.json_safe(values)
    assert out.tolist() == [1.5, None, None, None, 2.0]
    json.dumps(out.tolist(), allow_nan=False)
    assert schema.json_safe(np.array([1.0, 2.0])).dtype == float
    assert schema.json_safe(np.array([1.0]), always=True).dtype == object
    assert schema.json_safe(np.array([np.nan]), always=True).tolist() == [None]
