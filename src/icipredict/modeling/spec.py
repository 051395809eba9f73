"""Model specifications: YAML files in ``models/`` validated by pydantic, turned into estimators.

A spec names the estimator (a key of :data:`ESTIMATORS`), its hyperparameters, an optional
search space and whether to wrap it in probability calibration::

    name: xgb_response
    task: response
    estimator: XGBResponse
    params: {n_estimators: 300, max_depth: 3}
    calibrate: true
    search:
      method: random
      n_iter: 20
      cv: 5
      scoring: roc_auc
      space:
        max_depth: [2, 3, 4]
        learning_rate: {dist: loguniform, low: 0.01, high: 0.2}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from sklearn.base import BaseEstimator

from icipredict.cohort.schema import CohortError
from icipredict.modeling.baselines import LorisLLR6, RF16Forest, TMBThreshold
from icipredict.modeling.ensemble import ENSEMBLES, build_ensemble
from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.modeling.survival import (
    CoxPHSurvival,
    WeibullAFTSurvival,
    XGBAFTSurvival,
    XGBCoxSurvival,
)

#: Estimators a spec may name, with their task.
ESTIMATORS: dict[str, tuple[type[BaseEstimator], str]] = {
    "TMBThreshold": (TMBThreshold, "response"),
    "LorisLLR6": (LorisLLR6, "response"),
    "RF16Forest": (RF16Forest, "response"),
    "XGBResponse": (XGBResponse, "response"),
    "CoxPHSurvival": (CoxPHSurvival, "survival"),
    "WeibullAFTSurvival": (WeibullAFTSurvival, "survival"),
    "XGBCoxSurvival": (XGBCoxSurvival, "survival"),
    "XGBAFTSurvival": (XGBAFTSurvival, "survival"),
    **{name: (cls, "response") for name, (cls, _) in ENSEMBLES.items()},
}

#: How complex a model family is, for the one-standard-error rule of model selection
#: (:mod:`icipredict.training.selection`): linear before trees before ensembles.
FAMILY_RANK: dict[str, int] = {
    "TMBThreshold": 0, "LorisLLR6": 0, "CoxPHSurvival": 0, "WeibullAFTSurvival": 0,
    "RF16Forest": 1, "XGBResponse": 1, "XGBCoxSurvival": 1, "XGBAFTSurvival": 1,
    "VotingClassifier": 2, "StackingClassifier": 2,
}

#: Directory of the project's model specs (``models/`` beside ``src/``).
MODELS_DIR = Path(__file__).resolve().parents[3] / "models"


class Distribution(BaseModel):
    """A continuous or integer search distribution."""

    model_config = ConfigDict(extra="forbid")
    dist: Literal["uniform", "loguniform", "randint"]
    low: float
    high: float

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: float, info: Any) -> float:
        low = info.data.get("low")
        if low is not None and high <= low:
            raise ValueError(f"high ({high}) must be greater than low ({low})")
        return high


class SearchSpec(BaseModel):
    """Hyperparameter search inside cross-validation."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["grid", "random"] = "random"
    n_iter: int = Field(20, ge=1, description="Candidates for random search.")
    cv: int = Field(5, ge=2, description="Inner folds.")
    scoring: str | None = Field(None, description="sklearn scorer; None = estimator.score.")
    random_state: int = 0
    space: dict[str, list[Any] | Distribution]

    @field_validator("space")
    @classmethod
    def _not_empty(cls, space: dict) -> dict:
        if not space:
            raise ValueError("search space is empty")
        return space


CalibrationMethod = Literal["sigmoid", "isotonic"]


def _both_calibration_methods() -> list[CalibrationMethod]:
    """Default calibration maps to choose from: both."""
    return ["sigmoid", "isotonic"]


class ModelSpec(BaseModel):
    """One model: estimator, hyperparameters, search space, calibration."""

    model_config = ConfigDict(extra="forbid")
    name: str
    task: Literal["response", "survival"]
    estimator: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    calibrate: bool = Field(False, description="Wrap in CalibratedResponse (response only).")
    calibration_methods: list[CalibrationMethod] = Field(
        default_factory=_both_calibration_methods,
        description="Calibration maps to choose from by inner-CV log-loss (sigmoid = Platt).")
    members: list[str] = Field(
        default_factory=list, description="Ensembles: the members' model specs (names in "
        "models/ or paths relative to this spec).")
    search: SearchSpec | None = None
    _source_dir: Path | None = PrivateAttr(default=None)

    @field_validator("estimator")
    @classmethod
    def _known(cls, estimator: str) -> str:
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; expected one of "
                             f"{sorted(ESTIMATORS)}")
        return estimator

    def model_post_init(self, __context: Any) -> None:  # noqa: D102
        cls, task = ESTIMATORS[self.estimator]
        if task != self.task:
            raise ValueError(f"{self.estimator} is a {task} model, not {self.task}")
        if self.calibrate and self.task != "response":
            raise ValueError("calibrate applies to response models only")
        if (self.estimator in ENSEMBLES) != bool(self.members):
            raise ValueError("an ensemble (VotingClassifier, StackingClassifier) needs "
                             "'members', and only an ensemble takes them")
        valid = (set(ENSEMBLES[self.estimator][1]) if self.estimator in ENSEMBLES
                 else set(cls().get_params()))
        bad = sorted(set(self.params) - valid)
        if self.search is not None:
            bad += sorted(set(self.search.space) - valid)
        if bad:
            raise ValueError(f"{self.estimator} has no parameter(s) {bad}; valid: {sorted(valid)}")

    def build(self, **overrides: Any) -> BaseEstimator:
        """Return the unfitted estimator (calibration wrapper included when asked).

        Parameters
        ----------
        **overrides
            Parameters replacing those of the spec (e.g. tuned values).
        """
        cls, _ = ESTIMATORS[self.estimator]
        params = {**self.params, **overrides}
        if self.estimator in ENSEMBLES:
            est = build_ensemble(self.estimator, self.member_specs(), params)
        else:
            est = cls(**params)
        if not self.calibrate:
            return est
        return CalibratedResponse(est, methods=tuple(self.calibration_methods))

    def member_specs(self) -> list[ModelSpec]:
        """The members' specs (ensembles), loaded and validated."""
        out = []
        for ref in self.members:
            p = Path(ref)
            if self._source_dir is not None and p.suffix and not p.is_absolute():
                p = self._source_dir / p
            spec = load_spec(p)
            if spec.task != "response" or spec.members:
                raise CohortError(f"ensemble member {spec.name!r} must be a response model "
                                  "that is not itself an ensemble", file=p)
            out.append(spec)
        return out

    def n_features(self) -> float:
        """Features the model reads: its ``features`` parameter's length, else all (``inf``);
        an ensemble reads what its widest member reads."""
        if self.members:
            return max(m.n_features() for m in self.member_specs())
        features = self.params.get("features")
        return float(len(features)) if features else float("inf")

    def complexity(self) -> tuple[float, int]:
        """``(features read, family rank)``: smaller is simpler (one-standard-error rule)."""
        return self.n_features(), FAMILY_RANK.get(self.estimator, 3)


def load_spec(path: str | Path) -> ModelSpec:
    """Load and validate a model spec YAML.

    Parameters
    ----------
    path
        A YAML file, or a bare name looked up as ``models/<name>.yaml``.

    Raises
    ------
    CohortError
        When the file is missing, not YAML, or fails validation (message names the field).
    """
    p = Path(path)
    if not p.suffix and not p.exists():
        p = MODELS_DIR / f"{p.name}.yaml"
    if not p.is_file():
        raise CohortError("model spec not found", file=p)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise CohortError(f"not valid YAML: {err}", file=p) from err
    if not isinstance(data, dict):
        raise CohortError("a model spec is a YAML mapping", file=p)
    try:
        spec = ModelSpec(**data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or None
        raise CohortError(f"invalid model spec: {first['msg']}", file=p, column=loc) from err
    spec._source_dir = p.resolve().parent
    spec.member_specs()  # members must exist and be valid now, not at fit time
    return spec
