"""REST API and board web page (FastAPI): ``icipredict serve``.

Endpoints: ``POST /score`` (one record, or ``{"patient_id": ...}`` of the cohort store when the
app has one), ``POST /score/batch`` (a list, sorted), ``POST /score/store`` (a weekly list as a
query of the cohort store: IDs, centres, cancer types, ICI start window), ``GET /models``,
``GET /health``, the board page ``GET /board`` and OpenAPI docs at ``/docs``. Every endpoint but
``/health`` needs ``Authorization: Bearer <token>`` (token from ``ICIPREDICT_API_TOKEN``;
compared in constant time); the board page keeps the token in the browser session and sends it
with its requests. Bodies over :data:`MAX_BODY_BYTES` get 413; invalid records get 422 with the
list of fields; an unknown stored patient gets 404. Image + mask paths in a record are read only
under the app's image folder (``ICIPREDICT_IMAGE_ROOT``); without one, records with images are
refused (422) rather than letting a client make the server open arbitrary files. Logs carry
request paths and timings, never a patient's values.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from icipredict.cohort.schema import CohortError
from icipredict.predict.record import RecordError, json_schema
from icipredict.predict.report import render_list, render_report
from icipredict.predict.scorer import (
    DEFAULT_MODEL,
    StoreQuery,
    UnknownPatientError,
    load_board_model,
    score,
    score_batch,
    score_store_list,
    score_stored,
)

logger = logging.getLogger(__name__)

TOKEN_ENV = "ICIPREDICT_API_TOKEN"
IMAGE_ROOT_ENV = "ICIPREDICT_IMAGE_ROOT"
MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 5000
_BOARD_PAGE = Path(__file__).with_name("templates") / "board.html"


class StoreQueryBody(BaseModel):
    """``POST /score/store``: which stored patients (every given condition must hold)."""

    model_config = ConfigDict(extra="forbid")
    patient_ids: list[str] | None = None
    centres: list[str] | None = None
    cancer_types: list[str] | None = None
    started_from: str | None = None  # ICI start on or after, YYYY-MM-DD
    started_to: str | None = None  # ICI start on or before, YYYY-MM-DD
    without_outcome: bool = False


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
    secret = token if token is not None else os.environ.get(TOKEN_ENV, "")
    if image_root is None and os.environ.get(IMAGE_ROOT_ENV):
        image_root = os.environ[IMAGE_ROOT_ENV]
    image_root = Path(image_root) if image_root is not None else None
    app = FastAPI(title="icipredict tumour board API", version="1.0",
                  description="Scores patients for immune checkpoint inhibitor response and "
                  "survival with the registry champion. Decision support only.")
    bearer = HTTPBearer(auto_error=False)

    def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        given = creds.credentials if creds is not None else ""
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(401, "missing or invalid bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def limit_and_log(request: Request, call_next):  # noqa: ANN001, ANN202
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return JSONResponse({"detail": f"request body over {max_body_bytes} bytes"}, 413)
        if request.method == "POST":
            body = await request.body()  # also catches chunked bodies without a length
            if len(body) > max_body_bytes:
                return JSONResponse({"detail": f"request body over {max_body_bytes} bytes"}, 413)
        start = time.perf_counter()
        response = await call_next(request)
        # Path and status only: never the body (patient data).
        logger.info("%s %s -> %s in %.1f ms", request.method, request.url.path,
                    response.status_code, 1000 * (time.perf_counter() - start))
        return response

    @app.exception_handler(RecordError)
    async def record_error(request: Request, exc: RecordError) -> JSONResponse:
        return JSONResponse({"detail": "invalid patient record", "errors": exc.problems}, 422)

    @app.exception_handler(UnknownPatientError)
    async def unknown_patient(request: Request, exc: UnknownPatientError) -> JSONResponse:
        return JSONResponse({"detail": "patient not found in the cohort store",
                             "errors": [{"field": "patient_id", "message": exc.message}]}, 404)

    def _check_images(records: list[dict[str, Any]], labels: list[str | None]) -> None:
        if image_root is not None:
            return
        problems = [{"field": f"{lab}.images" if lab else "images", "message": (
            "this server reads no image files (it has no image folder, see "
            f"{IMAGE_ROOT_ENV}); send precomputed radiomics instead")}
            for rec, lab in zip(records, labels, strict=True)
            if isinstance(rec, dict) and rec.get("images")]
        if problems:
            raise RecordError(problems)

    def _by_id(record: dict[str, Any]) -> bool:
        if set(record) != {"patient_id"}:
            return False
        if store is None:
            raise RecordError([{"field": "patient_id", "message": (
                "this server has no cohort store to look patients up in; send the full "
                "patient record")}])
        return True

    def _model(uri: str | None) -> str:
        if uri is not None and not uri.startswith("models:/"):
            raise HTTPException(422, "model must be a models:/ registry URI")
        return uri or model

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness (no authentication, no model access)."""
        return {"status": "ok"}

    @app.post("/score", dependencies=[Depends(auth)])
    def score_one(record: dict[str, Any], model_uri: str | None = None,
                  report: bool = False) -> JSONResponse:
        """Score one patient record (see ``/schema``), or ``{"patient_id": ...}`` of the cohort
        store; ``report=true`` adds the HTML page."""
        if _by_id(record):
            s = score_stored(str(record["patient_id"]), store, _model(model_uri),
                             cache_dir=cache_dir)
        else:
            _check_images([record], [None])
            s = score(record, _model(model_uri), cache_dir=cache_dir, image_root=image_root)
        body = s.to_dict()
        if report:
            body["report_html"] = render_report(s)
        return JSONResponse(body)

    @app.post("/score/batch", dependencies=[Depends(auth)])
    def score_many(records: list[dict[str, Any]], model_uri: str | None = None,
                   sort_by: str = "response", html: bool = False) -> JSONResponse:
        """Score a list of records; sorted (highest response probability first)."""
        if len(records) > MAX_BATCH:
            raise HTTPException(413, f"at most {MAX_BATCH} records per request")
        _check_images(records, [f"record {i}" for i in range(1, len(records) + 1)])
        scores = score_batch(records, _model(model_uri), sort_by=sort_by, cache_dir=cache_dir,
                             image_root=image_root)
        body: dict[str, Any] = {"scores": [s.to_dict() for s in scores]}
        if html:
            body["list_html"] = render_list(scores)
        return JSONResponse(body)

    @app.post("/score/store", dependencies=[Depends(auth)])
    def score_query(query: StoreQueryBody, model_uri: str | None = None,
                    sort_by: str = "response", html: bool = False) -> JSONResponse:
        """Score a weekly list given as a cohort-store query; sorted like ``/score/batch``."""
        if store is None:
            raise RecordError([{"field": "query", "message": (
                "this server has no cohort store to query; send the patient records")}])
        from icipredict.cohort.store import CohortStore

        q = StoreQuery(**query.model_dump())
        try:
            n = len(CohortStore(store).find_patients(**query.model_dump()))
            if n > MAX_BATCH:
                raise HTTPException(413, f"the query matches {n} patients; at most {MAX_BATCH} "
                                    "per request (narrow it)")
            scores = score_store_list(store, q, _model(model_uri), sort_by=sort_by,
                                      cache_dir=cache_dir)
        except CohortError as exc:
            raise RecordError([{"field": exc.column or "query", "message": exc.message}]) from None
        body: dict[str, Any] = {"scores": [s.to_dict() for s in scores]}
        if html:
            body["list_html"] = render_list(scores)
        return JSONResponse(body)

    @app.get("/models", dependencies=[Depends(auth)])
    def models() -> dict[str, Any]:
        """The model scored by default: name, version, alias, card link, validity domain."""
        bm = load_board_model(model)
        return {"default": bm.info.model_dump(),
                "domain": {k: v for k, v in bm.domain.items() if k in ("categories",
                                                                        "n_patients")},
                "risk_groups": bm.risk_groups}

    @app.get("/schema")
    def schema() -> dict[str, Any]:
        """The patient record JSON Schema."""
        return json_schema()

    @app.get("/board", response_class=HTMLResponse)
    def board() -> HTMLResponse:
        """The board page (static; it calls the API with the token the user enters)."""
        return HTMLResponse(_BOARD_PAGE.read_text(encoding="utf-8"))

    return app
