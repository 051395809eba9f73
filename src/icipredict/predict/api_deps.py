"""What the service's routers share: the app's state, the bearer-token check, the model check.

:func:`icipredict.predict.service.create_app` puts an :class:`ApiState` on ``app.state.api``;
endpoints get it with ``Depends(api_state)`` instead of closing over ``create_app``'s variables.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from icipredict.predict.api_errors import RETRY_AFTER_S, ApiProblem
from icipredict.predict.scorer import load_board_model

logger = logging.getLogger("icipredict.predict.service")

MAX_BATCH = 5000
_MODEL_URI_RE = re.compile(r"^models:/[^/:@\x00-\x1f]{1,256}(?:@[\w-]{1,256}|/[1-9]\d{0,8})$")
_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class ApiState:
    """The app's settings (``app.state.api``).

    Attributes
    ----------
    model
        Registry URI scored by default.
    token
        Bearer token ("" refuses every authenticated request).
    store
        Cohort store file, or None.
    image_root
        Folder image/mask paths are read under, or None (records with images refused).
    cache_dir
        Radiomics feature cache, or None.
    """

    model: str
    token: str
    store: str | Path | None
    image_root: Path | None
    cache_dir: str | Path | None


def api_state(request: Request) -> ApiState:
    """Dependency: the app's :class:`ApiState`."""
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(api_state)]


def auth(state: State,
         creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:  # noqa: B008
    """Dependency: refuse (401) a request without the app's bearer token (constant time)."""
    given = creds.credentials if creds is not None else ""
    if not state.token or not hmac.compare_digest(given.encode(), state.token.encode()):
        raise ApiProblem(401, "missing or invalid bearer token", "Authorization",
                         "send Authorization: Bearer <token>",
                         headers={"WWW-Authenticate": "Bearer"})


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


def checked_model(state: ApiState, uri: str | None) -> str:
    """The model URI to score with: ``uri`` (checked and loadable) or the app's default."""
    if uri is not None and not _MODEL_URI_RE.match(uri):
        raise ApiProblem(422, "invalid model_uri", "model_uri", (
            "expected a registry URI models:/NAME@ALIAS or models:/NAME/VERSION"))
    board_model(uri or state.model, requested=uri is not None)
    return uri or state.model


__all__ = ["MAX_BATCH", "ApiState", "State", "api_state", "auth", "board_model",
           "checked_model"]
