"""The patient record the tumour board sends: a pydantic model, its JSON Schema, harmonisation.

A record is one flat JSON object. Numbers are either plain (then in the canonical unit of the
cohort contract, e.g. albumin in g/dL) or ``{"value": 38, "unit": "g/L"}`` (or the string
``"38 g/L"``, handy in CSV lists); they are converted with :mod:`icipredict.cohort.harmonise` and
checked against the contract's plausible range, so a g/L albumin sent as a bare number is caught.
Cancer types, drugs, sex, stage, MSI and smoking use the cohort vocabularies.

Every problem in a record is reported at once (:class:`RecordError` lists them with the field
path), so a coordinator fixes a record in one pass.

The modules, one job each: :mod:`~icipredict.predict.record.model` (the pydantic model, its
fields and checks), :mod:`~icipredict.predict.record.parse` (one record, many rows, a CSV/JSON
list file; :class:`RecordError`), :mod:`~icipredict.predict.record.frame` (a record as model
input), :mod:`~icipredict.predict.record.stored` (the record of a stored patient) and
:mod:`~icipredict.predict.record.schema` (the published JSON Schema).
"""

from icipredict.predict.record.frame import FRAME_COLUMNS, record_cohort, record_frame, record_row
from icipredict.predict.record.model import (
    MAX_PATH_CHARS,
    MODALITY_FIELDS,
    NUMERIC_FIELDS,
    RECORD_VERSION,
    Lesion,
    Mutation,
    PatientRecord,
    Quantity,
    extra_inputs,
    record_model,
)
from icipredict.predict.record.parse import (
    RecordError,
    parse_record,
    parse_records,
    problems_from,
    read_record_list,
)
from icipredict.predict.record.schema import SCHEMA_PATH, json_schema, write_json_schema
from icipredict.predict.record.stored import stored_record, stored_record_dict

__all__ = [
    "FRAME_COLUMNS",
    "MAX_PATH_CHARS",
    "MODALITY_FIELDS",
    "NUMERIC_FIELDS",
    "RECORD_VERSION",
    "SCHEMA_PATH",
    "Lesion",
    "Mutation",
    "PatientRecord",
    "Quantity",
    "RecordError",
    "extra_inputs",
    "json_schema",
    "parse_record",
    "parse_records",
    "problems_from",
    "read_record_list",
    "record_cohort",
    "record_frame",
    "record_model",
    "record_row",
    "stored_record",
    "stored_record_dict",
    "write_json_schema",
]
