"""``POST /score/mapped``: a list in a centre's own columns, scored through its column map.

A router of the service (:func:`icipredict.predict.service.create_app` includes it behind the
bearer token): the body carries the rows as the centre exports them and the column map as YAML
text; the scores keep the rows' own patient IDs (a centre-local answer, never logged).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

# Module level (not inside mapped_router): FastAPI resolves the endpoint's annotations from
# this module's globals when it builds the OpenAPI description.
from icipredict.predict.service import MAX_BATCH, ApiProblem, SafeJSONResponse


class MappedListBody(BaseModel):
    """Rows in the centre's own columns and its column map (YAML text of one table)."""

    model_config = ConfigDict(extra="forbid")
    column_map: str = Field(max_length=100_000, description="Column-map YAML of one table.")
    rows: list[dict[str, Any]]


def mapped_router(model_for: Callable[[str | None], str],
                  cache_dir: str | Path | None) -> APIRouter:
    """The router; ``model_for(model_uri)`` checks a requested model and returns the URI."""
    router = APIRouter()

    @router.post("/score/mapped")
    def score_mapped(body: MappedListBody, model_uri: str | None = None,
                     sort_by: Literal["response", "risk"] = "response") -> SafeJSONResponse:
        """Score rows in the centre's own format through its column map; sorted."""
        from icipredict.predict.mapped import score_mapped_rows

        if len(body.rows) > MAX_BATCH:
            raise ApiProblem(413, "too many rows", "rows", f"at most {MAX_BATCH} per request")
        scores = score_mapped_rows(body.rows, body.column_map, model_for(model_uri),
                                   sort_by=sort_by, cache_dir=cache_dir)
        return SafeJSONResponse({"scores": [s.to_dict() for s in scores]})

    return router


__all__ = ["MappedListBody", "mapped_router"]
