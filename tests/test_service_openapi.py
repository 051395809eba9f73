"""The API description shows the typed bodies: the patient record's fields in ``/docs``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from icipredict.predict.record import PatientRecord
from icipredict.predict.service import create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def spec() -> dict:
    client = TestClient(create_app("models:/none@champion", token=TOKEN))
    assert client.get("/openapi.json").status_code == 401
    r = client.get("/openapi.json", headers=AUTH)
    assert r.status_code == 200
    return r.json()


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _body(spec: dict, path: str) -> dict:
    return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_score_body_is_the_patient_record(spec):
    options = [_resolve(spec, s) for s in _body(spec, "/score")["anyOf"]]
    record = options[0]
    assert record["title"] == PatientRecord.model_config["title"]
    for field in ("cancer_type", "tmb", "albumin", "ecog", "mutations"):
        assert field in record["properties"], field
    assert set(record["properties"]) == set(PatientRecord.model_fields)
    assert options[1]["required"] == ["patient_id"]  # or a patient of the cohort store


def test_batch_body_is_a_list_of_patient_records(spec):
    body = _body(spec, "/score/batch")
    assert body["type"] == "array"
    assert "tmb" in _resolve(spec, body["items"])["properties"]


def test_other_bodies_and_answers_are_typed(spec):
    store = _resolve(spec, _body(spec, "/score/store"))
    assert {"patient_ids", "centres", "started_from"} <= set(store["properties"])
    mapped = _resolve(spec, _body(spec, "/score/mapped"))
    assert set(mapped["required"]) == {"column_map", "rows"}
    answers = spec["paths"]["/score/batch"]["post"]["responses"]
    assert "scores" in _resolve(spec, answers["200"]["content"]["application/json"]["schema"])[
        "properties"]
    problem = _resolve(spec, answers["422"]["content"]["application/json"]["schema"])
    assert set(problem["required"]) == {"detail", "errors"}
    assert {"401", "413", "503"} <= set(answers)
