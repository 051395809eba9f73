"""``POST /score/mapped``: a list in a centre's own columns, scored through its column map.

A router of the service (:func:`icipredict.predict.service.create_app` includes it behind the
bearer token): the body carries the rows as the centre exports them and the column map as YAML
text; the scores keep the rows' own patient IDs (a centre-local answer, never logged).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from icipredict.predict.api_deps import MAX_BATCH, State, checked_model
from icipredict.predict.api_errors import ApiProblem, SafeJSONResponse
from icipredict.predict.api_models import ScoreList, SortBy


class MappedListBody(BaseModel):
    """Rows in the centre's own columns and its column map (YAML text of one table)."""

    model_config = ConfigDict(extra="forbid")
    column_map: str = Field(max_length=100_000, description="Column-map YAML of one table.")
    rows: list[dict[str, Any]]


router = APIRouter()


@router.post("/score/mapped", response_model=ScoreList)
def score_mapped(body: MappedListBody, state: State, model_uri: str | None = None,
                 sort_by: SortBy = "response") -> SafeJSONResponse:
    """Score rows in the centre's own format through its column map; sorted."""
    from icipredict.predict.mapped import score_mapped_rows

    if len(body.rows) > MAX_BATCH:
        raise ApiProblem(413, "too many rows", "rows", f"at most {MAX_BATCH} per request")
    scores = score_mapped_rows(body.rows, body.column_map, checked_model(state, model_uri),
                               sort_by=sort_by, cache_dir=state.cache_dir)
    return SafeJSONResponse({"scores": [s.to_dict() for s in scores]})


__all__ = ["MappedListBody", "router"]
