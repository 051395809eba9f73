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
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from icipredict.errors import IcipredictError
from icipredict.predict.api_docs import add_docs
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
#: Deepest nesting of lists and objects a request body may have (a batch record needs 4).
MAX_DEPTH = 32
#: Seconds a client is asked to wait (``Retry-After``) when the cohort store is locked.
RETRY_AFTER_S = 5
#: Longest error message sent back (messages may quote what the client sent).
MAX_MESSAGE_CHARS = 300
#: At most this many problems are listed per response (``more_errors`` counts the rest).
MAX_PROBLEMS = 1000
SortBy = Literal["response", "risk"]
_MODEL_URI_RE = re.compile(r"^models:/[^/:@\x00-\x1f]{1,256}(?:@[\w-]{1,256}|/[1-9]\d{0,8})$")
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


class SafeJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: text the client sent (even an unpaired
    surrogate) can never make encoding the response fail."""

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as ASCII JSON (never NaN/Infinity)."""
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


class ApiProblem(Exception):
    """A refused request: HTTP ``status``, a summary and the field it is about.

    Parameters
    ----------
    status
        HTTP status code.
    detail
        One-line summary.
    field, message
        The offending field (``(body)`` for the body as a whole) and what is wrong with it.
    headers
        Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, detail: str, field: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = [{"field": field, "message": message}]
        self.headers = headers


def _clip(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 3] + "..."


def problem_response(status: int, detail: str, problems: list[dict[str, str]],
                     headers: dict[str, str] | None = None) -> SafeJSONResponse:
    """The error body every refusal uses: ``{"detail", "errors": [{"field", "message"}]}``.

    Fields and messages are clipped to :data:`MAX_MESSAGE_CHARS`, the list to
    :data:`MAX_PROBLEMS` (``more_errors`` counts the rest).
    """
    body: dict[str, Any] = {"detail": detail, "errors": [
        {"field": _clip(p["field"]), "message": _clip(p["message"])}
        for p in problems[:MAX_PROBLEMS]]}
    if len(problems) > MAX_PROBLEMS:
        body["more_errors"] = len(problems) - MAX_PROBLEMS
    return SafeJSONResponse(body, status, headers=headers)


# --------------------------------------------------------------------------- request bodies


class _Constant:
    """A ``NaN``/``Infinity`` literal: Python's json reads them, JSON has no such thing."""

    def __init__(self, text: str) -> None:
        self.text = text


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON."""
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("application/") and (mime.endswith("/json") or mime.endswith("+json"))


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode (an unpaired surrogate)"
    return None


def _value_problem(value: Any) -> str | None:
    if isinstance(value, _Constant):
        return (f"{value.text} is not JSON (leave the field out when the value is unknown)")
    if isinstance(value, float) and not math.isfinite(value):
        return "number too large (it reads as infinity)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
        return "number too large"
    return _text_problem(value) if isinstance(value, str) else None


def _label(key: Any, depth: int) -> str:
    """A path element: object keys as given (escaped when odd), top-level list items as
    ``record N`` (1-based, as batch errors name them), other list items by 0-based index."""
    if isinstance(key, int):
        return f"record {key + 1}" if depth == 0 else str(key)
    return key if key.isprintable() and len(key) <= 64 else ascii(key)[1:-1][:64]


def _walk(data: Any) -> list[dict[str, str]]:
    """Field-named problems of parsed JSON that no schema catches (iterative: any depth)."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack and len(problems) <= MAX_PROBLEMS:
        value, path, depth = stack.pop()
        if not isinstance(value, (dict, list)):
            message = _value_problem(value)
            if message:
                problems.append({"field": path or "(body)", "message": message})
            continue
        if depth >= MAX_DEPTH:
            problems.append({"field": path or "(body)",
                             "message": f"nested deeper than {MAX_DEPTH} levels"})
            continue
        children = []
        for key, child in (value.items() if isinstance(value, dict) else enumerate(value)):
            field = ".".join(p for p in (path, _label(key, depth)) if p)
            message = _text_problem(key) if isinstance(key, str) else None
            if message:
                problems.append({"field": field, "message": f"field name: {message}"})
                continue
            children.append((child, field, depth + 1))
        stack.extend(reversed(children))
    return problems


def screen_json(body: bytes) -> list[dict[str, str]]:
    """Problems of a JSON request body that schemas cannot see, each with its field path.

    Not JSON at all, not UTF-8, ``NaN``/``Infinity`` (Python's json accepts them), numbers
    beyond a double, NUL characters and unpaired surrogates in any text or key, nesting deeper
    than :data:`MAX_DEPTH`. An empty body gives no problem (the endpoint says what is missing).

    Parameters
    ----------
    body
        The raw request body.

    Returns
    -------
    list of dict
        ``{"field", "message"}``; empty when the body is clean.
    """
    if not body.strip():
        return []
    try:
        data = json.loads(body, parse_constant=_Constant)
    except json.JSONDecodeError as exc:
        return [{"field": "(body)", "message": f"not valid JSON: {exc.msg} (line {exc.lineno}, "
                 f"column {exc.colno})"}]
    except UnicodeDecodeError:
        return [{"field": "(body)", "message": "not UTF-8 text"}]
    except RecursionError:
        return [{"field": "(body)", "message": f"nested deeper than {MAX_DEPTH} levels"}]
    except ValueError:  # an integer over Python's digit limit
        return [{"field": "(body)", "message": "a number with too many digits"}]
    return _walk(data)


def validation_problems(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """FastAPI/pydantic request errors as ``{"field", "message"}`` (field without ``body.``/
    ``query.``; top-level list items of a body as ``record N``)."""
    out = []
    for e in errors:
        loc = list(e.get("loc") or ("body",))
        where, rest = loc[0], loc[1:]
        if e.get("type") == "json_invalid":
            error = (e.get("ctx") or {}).get("error", "")
            out.append({"field": "(body)", "message": f"not valid JSON: {error}".rstrip(": ")})
            continue
        if where == "body":
            field = ".".join(_label(p, i) if isinstance(p, int) else str(p)
                             for i, p in enumerate(rest)) or "(body)"
        else:
            field = ".".join(str(p) for p in rest) or str(where)
        message = str(e.get("msg") or "invalid value")
        if e.get("type") == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif e.get("type") == "missing" and field == "(body)":
            message = "a JSON request body is required"
        out.append({"field": field, "message": message})
    return out


# --------------------------------------------------------------------------- failures


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the cohort store is locked by another process.

    The store's own lock error (a :class:`~icipredict.errors.StoreError` named ``StoreLockedError``) or
    DuckDB's raw ``IOException: Could not set lock``.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        names = {c.__name__ for c in type(cur).__mro__}
        if "StoreLockedError" in names:
            return True
        if "IOException" in names and "lock" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def locked_response() -> SafeJSONResponse:
    """503 with ``Retry-After``: the cohort store is busy (an ingest holds its lock)."""
    return problem_response(503, "the cohort store is busy (another process holds its lock)", [
        {"field": "(store)", "message": f"try again in {RETRY_AFTER_S} s"}],
        headers={"Retry-After": str(RETRY_AFTER_S)})


def internal_error(request: Request, exc: BaseException) -> SafeJSONResponse:
    """Last resort: log where it failed (type and line, never the message: it may quote patient
    values) and answer a JSON 500 without internals."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    logger.error("%s %s failed: unhandled %s at %s", request.method, request.url.path,
                 type(exc).__name__, where)
    return problem_response(500, "internal error", [
        {"field": "(server)", "message": "the server failed on this request; it was logged"}])


def _not_found(exc: BaseException) -> bool:
    code = getattr(exc, "error_code", None)
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc))


def board_model(uri: str, *, requested: bool) -> Any:
    """Load the model to score with, or say why not (404/422 for a model the client named,
    503 when the server's own model cannot be loaded).

    Raises
    ------
    ApiProblem
    """
    try:
        return load_board_model(uri)
    except Exception as exc:  # noqa: BLE001 (registry, download and unpickling all may fail)
        if requested and _not_found(exc):
            raise ApiProblem(404, "model not found in the registry", "model_uri",
                             f"no registered model version at {uri}") from None
        if requested and getattr(exc, "error_code", None) == "INVALID_PARAMETER_VALUE":
            raise ApiProblem(422, "invalid model_uri", "model_uri", str(exc)) from None
        logger.error("model %s could not be loaded (%s)", uri, type(exc).__name__)
        raise ApiProblem(503, "the model cannot be loaded now", "model_uri" if requested
                         else "(model)", "the registry did not give the model; try later",
                         headers={"Retry-After": str(RETRY_AFTER_S)}) from None


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
                  "survival with the registry champion. Decision support only.",
                  default_response_class=SafeJSONResponse, docs_url=None, redoc_url=None,
                  openapi_url=None)
    bearer = HTTPBearer(auto_error=False)

    def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        given = creds.credentials if creds is not None else ""
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise ApiProblem(401, "missing or invalid bearer token", "Authorization",
                             "send Authorization: Bearer <token>",
                             headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def limit_and_log(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        try:
            response = await _screen(request, max_body_bytes)
            if response is None:
                response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 (the last resort: a JSON 500, logged)
            response = internal_error(request, exc)
        # Path and status only: never the body (patient data).
        logger.info("%s %s -> %s in %.1f ms", request.method, request.url.path,
                    response.status_code, 1000 * (time.perf_counter() - start))
        return response

    _add_error_handlers(app)
    add_docs(app, auth)

    def _check_files(records: list[dict[str, Any]], labels: list[str | None]) -> None:
        problems = []
        for rec, lab in zip(records, labels, strict=True):
            prefix = f"{lab}." if lab else ""
            if rec.get("maf_path") is not None:
                problems.append({"field": f"{prefix}maf_path", "message": (
                    "this server reads no MAF files; send the variants as the mutations list")})
            if image_root is None and rec.get("images"):
                problems.append({"field": f"{prefix}images", "message": (
                    "this server reads no image files (it has no image folder, see "
                    f"{IMAGE_ROOT_ENV}); send precomputed radiomics instead")})
        if problems:
            raise RecordError(problems)

    def _by_id(record: dict[str, Any]) -> bool:
        if set(record) != {"patient_id"}:
            return False
        pid = record["patient_id"]
        if not isinstance(pid, str) or not pid.strip() or len(pid) > 256:
            raise RecordError([{"field": "patient_id", "message": (
                "expected a patient ID: text of 1 to 256 characters")}])
        if store is None:
            raise RecordError([{"field": "patient_id", "message": (
                "this server has no cohort store to look patients up in; send the full "
                "patient record")}])
        return True

    def _model(uri: str | None) -> str:
        if uri is not None and not _MODEL_URI_RE.match(uri):
            raise ApiProblem(422, "invalid model_uri", "model_uri", (
                "expected a registry URI models:/NAME@ALIAS or models:/NAME/VERSION"))
        board_model(uri or model, requested=uri is not None)
        return uri or model

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness (no authentication, no model access)."""
        return {"status": "ok"}

    @app.post("/score", dependencies=[Depends(auth)])
    def score_one(record: dict[str, Any], model_uri: str | None = None,
                  report: bool = False) -> SafeJSONResponse:
        """Score one patient record (see ``/schema``), or ``{"patient_id": ...}`` of the cohort
        store; ``report=true`` adds the HTML page."""
        if _by_id(record):
            assert store is not None  # _by_id refuses a patient ID when there is no store
            uri = _model(model_uri)
            with _store_errors("patient_id"):
                s = score_stored(record["patient_id"].strip(), store, uri,
                                 cache_dir=cache_dir)
        else:
            _check_files([record], [None])
            s = score(record, _model(model_uri), cache_dir=cache_dir, image_root=image_root)
        body = s.to_dict()
        if report:
            body["report_html"] = render_report(s)
        return SafeJSONResponse(body)

    @app.post("/score/batch", dependencies=[Depends(auth)])
    def score_many(records: list[dict[str, Any]], model_uri: str | None = None,
                   sort_by: SortBy = "response", html: bool = False) -> SafeJSONResponse:
        """Score a list of records; sorted (highest response probability first)."""
        if len(records) > MAX_BATCH:
            raise ApiProblem(413, "too many records", "(body)",
                             f"at most {MAX_BATCH} records per request")
        _check_files(records, [f"record {i}" for i in range(1, len(records) + 1)])
        scores = score_batch(records, _model(model_uri), sort_by=sort_by, cache_dir=cache_dir,
                             image_root=image_root)
        body: dict[str, Any] = {"scores": [s.to_dict() for s in scores]}
        if html:
            body["list_html"] = render_list(scores)
        return SafeJSONResponse(body)

    from icipredict.predict.service_mapped import mapped_router

    app.include_router(mapped_router(_model, cache_dir), dependencies=[Depends(auth)])

    @app.post("/score/store", dependencies=[Depends(auth)])
    def score_query(query: StoreQueryBody, model_uri: str | None = None,
                    sort_by: SortBy = "response", html: bool = False) -> SafeJSONResponse:
        """Score a weekly list given as a cohort-store query; sorted like ``/score/batch``."""
        if store is None:
            raise RecordError([{"field": "query", "message": (
                "this server has no cohort store to query; send the patient records")}])
        from icipredict.cohort.store import CohortStore

        uri = _model(model_uri)
        q = StoreQuery(**query.model_dump())
        with _store_errors("query", _QUERY_FIELDS):
            n = len(CohortStore(store).find_patients(**query.model_dump()))
            if n > MAX_BATCH:
                raise ApiProblem(413, "too many patients", "query", (
                    f"the query matches {n} patients; at most {MAX_BATCH} per request "
                    "(narrow it)"))
            scores = score_store_list(store, q, uri, sort_by=sort_by, cache_dir=cache_dir)
        body: dict[str, Any] = {"scores": [s.to_dict() for s in scores]}
        if html:
            body["list_html"] = render_list(scores)
        return SafeJSONResponse(body)

    @app.get("/brca", dependencies=[Depends(auth)])
    def brca() -> SafeJSONResponse:
        """The network's classified BRCA1/2 registry and its aggregate tables (JSON)."""
        if store is None:
            raise RecordError([{"field": "(request)", "message": (
                "this server has no cohort store: the BRCA1/2 registry is read from it")}])
        from icipredict.cohort.brca import analyse
        from icipredict.cohort.brca.registry import read_tables
        from icipredict.cohort.brca.report import to_json
        from icipredict.cohort.store import CohortStore

        with _store_errors("(request)"):
            return SafeJSONResponse(to_json(analyse(read_tables(CohortStore(store)))))

    @app.get("/models", dependencies=[Depends(auth)])
    def models() -> dict[str, Any]:
        """The model scored by default: name, version, alias, card link, validity domain."""
        bm = board_model(model, requested=False)
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


async def _screen(request: Request, max_body_bytes: int) -> SafeJSONResponse | None:
    """The refusal of a body too large (413) or malformed below any schema (422), else None."""
    too_big = problem_response(413, "request body too large", [
        {"field": "(body)", "message": f"request body over {max_body_bytes} bytes"}])
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_body_bytes:
        return too_big
    if request.method != "POST":
        return None
    body = await request.body()  # also catches chunked bodies without a length
    if len(body) > max_body_bytes:
        return too_big
    if _is_json(request.headers.get("content-type")):
        problems = screen_json(body)
        if problems:
            return problem_response(422, "malformed request body", problems)
    return None


#: Store column -> the store query's field that filters on it.
_QUERY_FIELDS = {"patient_id": "patient_ids", "centre": "centres", "cancer_type": "cancer_types"}


@contextmanager
def _store_errors(field: str, names: dict[str, str] | None = None) -> Iterator[None]:
    """Store failures as answers: a lock is re-raised (its handler answers 503); any other
    :class:`~icipredict.errors.IcipredictError` but an unknown patient becomes a problem of the request field its
    column maps to in ``names`` (else ``field``), answered 422."""
    try:
        yield
    except IcipredictError as exc:
        if is_lock_error(exc) or isinstance(exc, (UnknownPatientError, RecordError)):
            raise
        column = (names or {}).get(exc.column or "", exc.column)
        raise RecordError([{"field": column or field, "message": exc.message}]) from None


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal as :func:`problem_response`; store locks as 503 + ``Retry-After``."""

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> SafeJSONResponse:
        return problem_response(exc.status, exc.detail, exc.problems, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        return problem_response(422, "invalid request", validation_problems(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> SafeJSONResponse:
        field = "(path)" if exc.status_code in (404, 405) else "(request)"
        return problem_response(exc.status_code, str(exc.detail), [
            {"field": field, "message": str(exc.detail)}], getattr(exc, "headers", None))

    @app.exception_handler(RecordError)
    async def record_error(request: Request, exc: RecordError) -> SafeJSONResponse:
        return problem_response(422, "invalid patient record", exc.problems)

    @app.exception_handler(UnknownPatientError)
    async def unknown_patient(request: Request, exc: UnknownPatientError) -> SafeJSONResponse:
        return problem_response(404, "patient not found in the cohort store",
                                [{"field": "patient_id", "message": exc.message}])

    @app.exception_handler(IcipredictError)
    async def package_error(request: Request, exc: IcipredictError) -> SafeJSONResponse:
        if is_lock_error(exc):
            return locked_response()
        return problem_response(422, "invalid request",
                                [{"field": exc.column or "(request)", "message": exc.message}])

    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a dependency of the store
        return

    @app.exception_handler(duckdb.Error)
    async def store_error(request: Request, exc: duckdb.Error) -> SafeJSONResponse:
        return locked_response() if is_lock_error(exc) else internal_error(request, exc)

