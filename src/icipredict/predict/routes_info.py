"""The service's routers besides scoring: liveness, the model, the record schema, the board
page (:data:`pages`, open) and the BRCA1/2 registry (:data:`info`, behind the token when
:func:`icipredict.predict.service.create_app` includes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from icipredict.predict.api_deps import State, board_model
from icipredict.predict.api_errors import SafeJSONResponse, store_errors
from icipredict.predict.api_models import Health
from icipredict.predict.record import RecordError, json_schema

_BOARD_PAGE = Path(__file__).with_name("templates") / "board.html"

#: Endpoints without authentication: they hold no patient data.
pages = APIRouter()
#: Endpoints behind the bearer token.
info = APIRouter()


@pages.get("/health", response_model=Health)
def health() -> dict[str, Any]:
    """Liveness (no authentication, no model access)."""
    return {"status": "ok"}


@pages.get("/schema")
def schema() -> dict[str, Any]:
    """The patient record JSON Schema."""
    return json_schema()


@pages.get("/board", response_class=HTMLResponse)
def board() -> HTMLResponse:
    """The board page (static; it calls the API with the token the user enters)."""
    return HTMLResponse(_BOARD_PAGE.read_text(encoding="utf-8"))


@info.get("/models")
def models(state: State) -> dict[str, Any]:
    """The model scored by default: name, version, alias, card link, validity domain."""
    bm = board_model(state.model, requested=False)
    return {"default": bm.info.model_dump(),
            "domain": {k: v for k, v in bm.domain.items() if k in ("categories", "n_patients")},
            "risk_groups": bm.risk_groups}


@info.get("/brca")
def brca(state: State) -> SafeJSONResponse:
    """The network's classified BRCA1/2 registry and its aggregate tables (JSON)."""
    if state.store is None:
        raise RecordError([{"field": "(request)", "message": (
            "this server has no cohort store: the BRCA1/2 registry is read from it")}])
    from icipredict.cohort.brca import analyse
    from icipredict.cohort.brca.registry import read_tables
    from icipredict.cohort.brca.report import to_json
    from icipredict.cohort.store import CohortStore

    with store_errors("(request)"):
        return SafeJSONResponse(to_json(analyse(read_tables(CohortStore(state.store)))))


__all__ = ["info", "pages"]
