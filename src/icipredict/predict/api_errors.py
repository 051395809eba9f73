"""The service's refusals: the problem body, body screening below any schema, store locks.

Every malformed input gets a 4xx whose body names the field (``{"detail": ..., "errors":
[{"field", "message"}]}``): ``NaN``/``Infinity`` (which Python's json reads but JSON forbids),
unpaired surrogates, NUL characters and bodies nested deeper than :data:`MAX_DEPTH` get 422,
bodies over the app's limit 413, a cohort store locked by another process 503 with
``Retry-After``. Anything else that fails is logged (type and line, no values) and answered by a
JSON 500 without internals (:func:`icipredict.predict.service.create_app` installs all of it).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from icipredict.errors import IcipredictError
from icipredict.predict.record import RecordError
from icipredict.predict.scorer import UnknownPatientError

logger = logging.getLogger("icipredict.predict.service")

MAX_BODY_BYTES = 1_000_000
#: Deepest nesting of lists and objects a request body may have (a batch record needs 4).
MAX_DEPTH = 32
#: Seconds a client is asked to wait (``Retry-After``) when the cohort store is locked.
RETRY_AFTER_S = 5
#: Longest error message sent back (messages may quote what the client sent).
MAX_MESSAGE_CHARS = 300
#: At most this many problems are listed per response (``more_errors`` counts the rest).
MAX_PROBLEMS = 1000


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




async def screen_request(request: Request, max_body_bytes: int) -> SafeJSONResponse | None:
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
QUERY_FIELDS = {"patient_id": "patient_ids", "centre": "centres", "cancer_type": "cancer_types"}


@contextmanager
def store_errors(field: str, names: dict[str, str] | None = None) -> Iterator[None]:
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


def add_error_handlers(app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Every refusal as :func:`problem_response`; store locks as 503 + ``Retry-After``; bodies
    screened (:func:`screen_request`) and every request logged by path, status and time."""

    @app.middleware("http")
    async def limit_and_log(request: Request, call_next):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        response: Response | None
        try:
            response = await screen_request(request, max_body_bytes)
            if response is None:
                response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 (the last resort: a JSON 500, logged)
            response = internal_error(request, exc)
        # Path and status only: never the body (patient data).
        logger.info("%s %s -> %s in %.1f ms", request.method, request.url.path,
                    response.status_code, 1000 * (time.perf_counter() - start))
        return response

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



__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "MAX_MESSAGE_CHARS", "MAX_PROBLEMS", "QUERY_FIELDS",
           "RETRY_AFTER_S", "ApiProblem", "SafeJSONResponse", "add_error_handlers",
           "internal_error", "is_lock_error", "locked_response", "problem_response",
           "screen_json", "screen_request", "store_errors", "validation_problems"]
