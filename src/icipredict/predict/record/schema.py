"""The published JSON Schema of a patient record (``predict/patient_record.schema.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from icipredict.predict.record.model import RECORD_VERSION, record_model

#: The published JSON Schema (regenerate with :func:`write_json_schema`).
SCHEMA_PATH = Path(__file__).parent.with_name("patient_record.schema.json")


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a patient record."""
    schema = record_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://icipredict.example/schemas/patient_record/{RECORD_VERSION}.json"
    schema["description"] = (
        "A patient record for icipredict's tumour-board scoring. Numbers are plain (canonical "
        "unit) or {value, unit}; vocabularies follow the cohort contract.")
    return schema


def write_json_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Write :func:`json_schema` to ``path`` (the published file lives next to this module)."""
    path = Path(path)
    path.write_text(json.dumps(json_schema(), indent=2) + "\n")
    return path
