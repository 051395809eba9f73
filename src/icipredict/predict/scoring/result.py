"""The board's answer: the :class:`BoardScore` layout, its parts and constants, and number
cleaning (non-finite numbers are null)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from icipredict._util import json_ready as finite  # the board's name for it
from icipredict.predict.explain import Reason

DEFAULT_MODEL = "models:/icipredict@champion"
#: Version of the BoardScore JSON layout (bump on incompatible changes).
SCORE_SCHEMA_VERSION = "1.0"
#: Months at which survival curves are evaluated (12 and 24 are reported with CIs).
CURVE_MONTHS: tuple[int, ...] = (1, 3, 6, 9, 12, 18, 24, 30, 36)
REPORT_MONTHS: tuple[int, ...] = (12, 24)
INTENDED_USE = (
    "Decision support for a molecular tumour board considering immune checkpoint inhibitors for "
    "adults with advanced solid cancer. Estimates are from a statistical model trained on "
    "retrospective cohorts; they support, never replace, the board's clinical judgement, and must "
    "not be used for patients outside the model's validity domain (see warnings)."
)


class ResponseEstimate(BaseModel):
    """Probability of objective response (RECIST CR/PR) with its 95% CI and plain meaning."""

    probability: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    per_100: int | None = Field(None, description="The probability in percent, rounded.")
    meaning: str = ""


class SurvivalPoint(BaseModel):
    """Survival probability at one time."""

    month: float
    survival: float | None
    ci_low: float | None = None
    ci_high: float | None = None


class SurvivalEstimate(BaseModel):
    """A predicted survival curve (OS or PFS) with its median and landmark survival."""

    curve: list[SurvivalPoint] = Field(default_factory=list)
    median_months: float | None = Field(None, description="Null when not reached.")
    median_reached: bool = False
    at_12m: SurvivalPoint | None = None
    at_24m: SurvivalPoint | None = None


class RiskGroup(BaseModel):
    """The patient's risk score and its training tertile."""

    score: float | None
    group: str | None = Field(None, description="low / intermediate / high (training tertiles).")
    cutpoints: list[float] = Field(default_factory=list)
    endpoint: str | None = Field(None, description="End point of the score's model: os or pfs.")


class BoardWarning(BaseModel):
    """Something the board must know before trusting the numbers."""

    code: str
    message: str


class ModelInfo(BaseModel):
    """Which registry model produced the score."""

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    card_link: str | None = None


class BoardScore(BaseModel):
    """Everything the board reads about one patient (see :data:`SCORE_SCHEMA_VERSION`)."""

    schema_version: str = SCORE_SCHEMA_VERSION
    patient_id: str | None = None
    cancer_type: str | None = None
    drug_class: str | None = None
    response: ResponseEstimate
    os: SurvivalEstimate
    pfs: SurvivalEstimate
    risk: RiskGroup
    reasons: list[Reason] = Field(default_factory=list)
    warnings: list[BoardWarning] = Field(default_factory=list)
    completeness: dict[str, float] = Field(default_factory=dict)
    missing_modalities: list[str] = Field(default_factory=list)
    model: ModelInfo
    intended_use: str = INTENDED_USE
    scored_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite numbers are null."""
        return finite(self.model_dump(mode="json"))

    def to_json(self, **kwargs: Any) -> str:
        """JSON text (never NaN/Infinity: they are written as null)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)
