"""REST API and board web page (FastAPI): ``icipredict serve``.

Endpoints: ``POST /score`` (one record, or ``{"patient_id": ...}`` of the cohort store when the
app has one), ``POST /score/batch`` (a list, sorted), ``POST /score/store`` (a weekly list as a
query of the cohort store: IDs, centres, cancer types, ICI start window), ``GET /models``,
``GET /health``, the board page ``GET /board`` and API docs at ``/docs`` and ``/redoc``
(:mod:`icipredict.predict.api_docs`). Every endpoint but ``/health``, ``/schema`` and the static
pages (board, docs and their assets) needs ``Authorization: Bearer <token>`` (token from
``ICIPREDICT_API_TOKEN``; compared in constant time), the OpenAPI description ``/openapi.json``
included; the pages ask for the token, keep it in the browser session and send it with their
requests. Bodies over :data:`MAX_BODY_BYTES` get 413;
every malformed input gets a 4xx whose body names the field (``{"detail": ..., "errors":
[{"field", "message"}]}``): invalid records, ``NaN``/``Infinity`` (which Python's json reads
but JSON forbids), unpaired surrogates, NUL characters, bodies nested deeper than
:data:`MAX_DEPTH` and junk query parameters get 422; an unknown stored patient or registry model
gets 404; a cohort store locked by another process gets 503 with ``Retry-After``. Anything else
that fails is logged (type and line, no values) and answered by a JSON 500 without internals.
Image + mask paths in a record are read only under the app's image folder (``ICIPREDICT_IMAGE_ROOT``); without one, records with images are
refused (422) rather than letting a client make the server open arbitrary files. Logs carry
request paths and timings, never a patient's values.

The app is assembled from routers: scoring (:data:`scoring`, here), the board page, record
schema and liveness, the model and BRCA1/2 registry (:mod:`~icipredict.predict.routes_info`),
the column-mapped list (:mod:`~icipredict.predict.service_mapped`) and the docs
(:mod:`~icipredict.predict.api_docs`). Request bodies are pydantic models
(:mod:`~icipredict.predict.api_models`; a patient record is published as
:class:`~icipredict.predict.record.PatientRecord`); the settings live on ``app.state.api``
(:class:`~icipredict.predict.api_deps.ApiState`); refusals are
:mod:`~icipredict.predict.api_errors`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from icipredict.predict.api_deps import MAX_BATCH, ApiState, State, auth, checked_model
from icipredict.predict.api_docs import add_docs
from icipredict.predict.api_errors import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_MESSAGE_CHARS,
    MAX_PROBLEMS,
    QUERY_FIELDS,
    RETRY_AFTER_S,
    ApiProblem,
    SafeJSONResponse,
    add_error_handlers,
    problem_response,
    screen_json,
    store_errors,
    validation_problems,
)
from icipredict.predict.api_models import (
    PROBLEM_RESPONSES,
    RecordBody,
    RecordListBody,
    ScoreList,
    SortBy,
    StoreQueryBody,
)
from icipredict.predict.record import RecordError
from icipredict.predict.report import render_list, render_report
from icipredict.predict.scorer import (
    DEFAULT_MODEL,
    StoreQuery,
    score,
    score_batch,
    score_store_list,
    score_stored,
)

TOKEN_ENV = "ICIPREDICT_API_TOKEN"
IMAGE_ROOT_ENV = "ICIPREDICT_IMAGE_ROOT"

#: The scoring endpoints (behind the token). They call this module's ``score*`` names at
#: request time, so a test may replace them.
scoring = APIRouter(responses=PROBLEM_RESPONSES)


def _check_files(state: ApiState, records: list[dict[str, Any]],
                 labels: list[str | None]) -> None:
    problems = []
    for rec, lab in zip(records, labels, strict=True):
        prefix = f"{lab}." if lab else ""
        if rec.get("maf_path") is not None:
            problems.append({"field": f"{prefix}maf_path", "message": (
                "this server reads no MAF files; send the variants as the mutations list")})
        if state.image_root is None and rec.get("images"):
            problems.append({"field": f"{prefix}images", "message": (
                "this server reads no image files (it has no image folder, see "
                f"{IMAGE_ROOT_ENV}); send precomputed radiomics instead")})
    if problems:
        raise RecordError(problems)


def _by_id(state: ApiState, record: dict[str, Any]) -> bool:
    if set(record) != {"patient_id"}:
        return False
    pid = record["patient_id"]
    if not isinstance(pid, str) or not pid.strip() or len(pid) > 256:
        raise RecordError([{"field": "patient_id", "message": (
            "expected a patient ID: text of 1 to 256 characters")}])
    if state.store is None:
        raise RecordError([{"field": "patient_id", "message": (
            "this server has no cohort store to look patients up in; send the full "
            "patient record")}])
    return True


@scoring.post("/score")
def score_one(record: RecordBody, state: State, model_uri: str | None = None,
              report: bool = False) -> SafeJSONResponse:
    """Score one patient record (see ``/schema``), or ``{"patient_id": ...}`` of the cohort
    store; ``report=true`` adds the HTML page."""
    if _by_id(state, record):
        assert state.store is not None  # _by_id refuses a patient ID when there is no store
        uri = checked_model(state, model_uri)
        with store_errors("patient_id"):
            s = score_stored(record["patient_id"].strip(), state.store, uri,
                             cache_dir=state.cache_dir)
    else:
        _check_files(state, [record], [None])
        s = score(record, checked_model(state, model_uri), cache_dir=state.cache_dir,
                  image_root=state.image_root)
    body = s.to_dict()
    if report:
        body["report_html"] = render_report(s)
    return SafeJSONResponse(body)


@scoring.post("/score/batch", response_model=ScoreList)
def score_many(records: RecordListBody, state: State, model_uri: str | None = None,
               sort_by: SortBy = "response", html: bool = False) -> SafeJSONResponse:
    """Score a list of records; sorted (highest response probability first)."""
    if len(records) > MAX_BATCH:
        raise ApiProblem(413, "too many records", "(body)",
                         f"at most {MAX_BATCH} records per request")
    _check_files(state, records, [f"record {i}" for i in range(1, len(records) + 1)])
    scores = score_batch(records, checked_model(state, model_uri), sort_by=sort_by,
                         cache_dir=state.cache_dir, image_root=state.image_root)
    body: dict[str, Any] = {"scores": [s.to_dict() for s in scores]}
    if html:
        body["list_html"] = render_list(scores)
    return SafeJSONResponse(body)


@scoring.post("/score/store", response_model=ScoreList)
def score_query(query: StoreQueryBody, state: State, model_uri: str | None = None,
                sort_by: SortBy = "response", html: bool = False) -> SafeJSONResponse:
    """Score a weekly list given as a cohort-store query; sorted like ``/score/batch``."""
    if state.store is None:
        raise RecordError([{"field": "query", "message": (
            "this server has no cohort store to query; send the patient records")}])
    from icipredict.cohort.store import CohortStore

    uri = checked_model(state, model_uri)
    q = StoreQuery(**query.model_dump())
    with store_errors("query", QUERY_FIELDS):
        n = len(CohortStore(state.store).find_patients(**query.model_dump()))
        if n > MAX_BATCH:
            raise ApiProblem(413, "too many patients", "query", (
                f"the query matches {n} patients; at most {MAX_BATCH} per request "
                "(narrow it)"))
        scores = score_store_list(state.store, q, uri, sort_by=sort_by,
                                  cache_dir=state.cache_dir)
    body: dict[str, Any] = {"scores": [s.to_dict() for s in scores]}
    if html:
        body["list_html"] = render_list(scores)
    return SafeJSONResponse(body)


def create_app(model: str = DEFAULT_MODEL, *, token: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, store: str | Path | None = None,
               image_root: str | Path | None = None,
               cache_dir: str | Path | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    model
        Registry URI scored by default (a request may name another ``models:/`` URI).
    token
        Bearer token; default from the environment variable ``ICIPREDICT_API_TOKEN``. Without a
        token the app refuses every authenticated request (it never runs open).
    max_body_bytes
        Larger request bodies are refused with 413.
    store
        Cohort store file: ``POST /score`` then also accepts ``{"patient_id": "P-..."}``.
    image_root
        Folder image/mask paths of records are read under (relative paths are relative to
        it); default from ``ICIPREDICT_IMAGE_ROOT``. Without it, records with images get 422.
    cache_dir
        Radiomics feature cache (default ``ICIPREDICT_RADIOMICS_CACHE`` or a temporary folder).
    """
    from icipredict.predict import routes_info, service_mapped

    if image_root is None and os.environ.get(IMAGE_ROOT_ENV):
        image_root = os.environ[IMAGE_ROOT_ENV]
    app = FastAPI(title="icipredict tumour board API", version="1.0",
                  description="Scores patients for immune checkpoint inhibitor response and "
                  "survival with the registry champion. Decision support only.",
                  default_response_class=SafeJSONResponse, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.api = ApiState(
        model=model, token=token if token is not None else os.environ.get(TOKEN_ENV, ""),
        store=store, image_root=Path(image_root) if image_root is not None else None,
        cache_dir=cache_dir)
    add_error_handlers(app, max_body_bytes)
    add_docs(app, auth)
    app.include_router(routes_info.pages)
    app.include_router(scoring, dependencies=[Depends(auth)])
    app.include_router(service_mapped.router, dependencies=[Depends(auth)],
                       responses=PROBLEM_RESPONSES)
    app.include_router(routes_info.info, dependencies=[Depends(auth)],
                       responses=PROBLEM_RESPONSES)
    return app


__all__ = ["IMAGE_ROOT_ENV", "MAX_BATCH", "MAX_BODY_BYTES", "MAX_DEPTH", "MAX_MESSAGE_CHARS",
           "MAX_PROBLEMS", "RETRY_AFTER_S", "TOKEN_ENV", "ApiProblem", "SafeJSONResponse",
           "StoreQueryBody", "create_app", "problem_response", "screen_json", "scoring",
           "validation_problems"]
