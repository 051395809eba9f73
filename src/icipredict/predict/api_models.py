"""The service's request bodies and answers as pydantic models (what ``/docs`` shows).

A patient record body is described by :class:`~icipredict.predict.record.PatientRecord` (its
fields, units and vocabularies appear in ``/openapi.json``) but read by the record parser
(:func:`~icipredict.predict.record.parse_record`), which converts units such as ``"38 g/L"``,
extends the record by fields of registry features and lists every problem of a record at once,
each named by its field: :class:`RecordBody` and :class:`RecordListBody` are such described but
parser-checked bodies. Bodies without those needs (a store query, a column-mapped list) are
validated by their model as usual.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from icipredict.predict.record import PatientRecord

SortBy = Literal["response", "risk"]


class StoredPatient(BaseModel):
    """``POST /score`` by reference: a patient of the server's cohort store."""

    model_config = ConfigDict(extra="forbid", title="StoredPatient")
    patient_id: str = Field(min_length=1, max_length=256,
                            description="ID of a patient in the server's cohort store.")


class ShownAs:
    """Annotation that publishes a body's JSON Schema as ``types`` (``anyOf`` when several)
    while the body is validated as its own annotated type (e.g. ``dict[str, Any]``)."""

    def __init__(self, *types: Any) -> None:
        self.types = types

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The schemas of :attr:`types` (registered as components like any model)."""
        schemas = [handler(TypeAdapter(t).core_schema) for t in self.types]
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


#: ``POST /score``: one patient record, or ``{"patient_id": ...}`` of the cohort store.
RecordBody = Annotated[dict[str, Any], ShownAs(PatientRecord, StoredPatient)]
#: ``POST /score/batch``: a list of patient records.
RecordListBody = Annotated[list[dict[str, Any]], ShownAs(list[PatientRecord])]


class StoreQueryBody(BaseModel):
    """``POST /score/store``: which stored patients (every given condition must hold)."""

    model_config = ConfigDict(extra="forbid")
    patient_ids: list[str] | None = None
    centres: list[str] | None = None
    cancer_types: list[str] | None = None
    started_from: str | None = None  # ICI start on or after, YYYY-MM-DD
    started_to: str | None = None  # ICI start on or before, YYYY-MM-DD
    without_outcome: bool = False


class Health(BaseModel):
    """``GET /health``."""

    status: Literal["ok"]


class ProblemItem(BaseModel):
    """One problem of a refused request."""

    field: str = Field(description="The offending field, or (body), (store), (server)...")
    message: str


class Problem(BaseModel):
    """The body of every refusal (4xx/5xx)."""

    detail: str
    errors: list[ProblemItem]
    more_errors: int | None = Field(None, description="Problems beyond the listed ones.")


class ScoreList(BaseModel):
    """A scored list, sorted (``list_html`` with ``html=true``)."""

    scores: list[dict[str, Any]]
    list_html: str | None = None


#: The refusals every authenticated endpoint may answer, for the OpenAPI description.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in (
        (401, "Missing or invalid bearer token"),
        (413, "Request body or list too large"),
        (422, "Invalid request; each problem names its field"),
        (503, "Cohort store busy or model unavailable (see Retry-After)"))}

__all__ = ["PROBLEM_RESPONSES", "Health", "Problem", "ProblemItem", "RecordBody",
           "RecordListBody", "ScoreList", "ShownAs", "SortBy", "StoreQueryBody",
           "StoredPatient"]
