"""Load a registry model for the board (once per process and URI): :class:`BoardModel`."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from icipredict.predict.scoring.result import DEFAULT_MODEL, ModelInfo

if TYPE_CHECKING:
    from icipredict.registry.bundle import Bundle

logger = logging.getLogger("icipredict.predict.scorer")  # the name it always logged under


@dataclass
class BoardModel:
    """A loaded registry model: its bundle (read through the registry), the model that scores
    and its registry coordinates."""

    uri: str
    bundle: Bundle
    #: The icipredict registry model read from the bundle (None: another pyfunc with the
    #: board's contract and a metadata-only bundle, scored through MLflow).
    model: Any = None
    pyfunc: Any = None
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    card_link: str | None = None
    domain: dict[str, Any] = field(default_factory=dict)
    risk_groups: dict[str, Any] = field(default_factory=dict)
    input_columns: list[str] | None = None
    #: The model's ``radiomics.json`` (how training computed radiomics); empty for models
    #: without imaging (the training defaults apply).
    radiomics: dict[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> ModelInfo:
        """Registry coordinates for the answer."""
        return ModelInfo(uri=self.uri, name=self.name, version=self.version, alias=self.alias,
                         card_link=self.card_link)

    def completeness(self, frame_row: pd.Series) -> dict[str, float] | None:
        """Per modality, the share of the features this model uses (and had training values
        for) that the patient gave; None for a model without icipredict's feature builder."""
        if self.model is None:
            return None
        shares = self.model.builder.completeness(frame_row)
        return {m: float(v) for m, v in shares.iloc[0].items()}

    def predict(self, frame: pd.DataFrame, *, horizons: list[float],
                explain: bool = False, intervals: bool = True) -> pd.DataFrame:
        """The registry model's ``predict`` with the documented params.

        The registry model checks its own input (required columns, numbers with the row and
        column of a bad value) and reads only its own columns, so a frame that has them all goes
        in without a copy (MLflow's generic enforcement of the ``any``-typed numeric columns is
        a Python loop over every value). ``intervals=False`` leaves the CI columns null (the
        intervals are a table lookup: they cost next to nothing either way).
        """
        params = {"horizons": list(horizons), "explain": bool(explain)}
        if not intervals:
            params["intervals"] = False
        columns = self.input_columns
        if self.model is not None:
            if columns is not None and not set(columns).issubset(frame.columns):
                frame = frame.reindex(columns=columns)
            return self.model.predict(None, frame, params=params)
        if columns is not None:
            frame = frame.reindex(columns=columns)
        return self.pyfunc.predict(frame, params=params)


_CACHE: dict[str, BoardModel] = {}
_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget loaded models (e.g. after the champion alias moved)."""
    with _LOCK:
        _CACHE.clear()


def _parse_models_uri(uri: str) -> tuple[str | None, str | None, str | None]:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> (name, alias, version)."""
    if not uri.startswith("models:/"):
        return None, None, None
    rest = uri[len("models:/"):]
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, alias, None
    name, _, version = rest.partition("/")
    return name, None, version or None


def load_board_model(uri: str = DEFAULT_MODEL) -> BoardModel:
    """Load (once per process) the registry model at ``uri`` with its artifacts.

    Parameters
    ----------
    uri
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or a local pyfunc model folder.

    Returns
    -------
    BoardModel
    """
    with _LOCK:
        cached = _CACHE.get(uri)
    if cached is not None:
        return cached
    import mlflow

    from icipredict.registry.bundle import Bundle
    from icipredict.registry.model import ICIPredictModel

    name, alias, version = _parse_models_uri(uri)
    card_link = None
    if name is not None:
        client = mlflow.MlflowClient()
        if alias:
            mv = client.get_model_version_by_alias(name, alias)
        elif version is not None:
            mv = client.get_model_version(name, version)
        else:  # models:/NAME names no version (mlflow would fail on a version of None)
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(f"{uri}: no version or alias (give models:/NAME/VERSION or "
                                  "models:/NAME@ALIAS)", error_code=INVALID_PARAMETER_VALUE)
        version = str(mv.version)
        card_link = (mv.tags or {}).get("model_card")
        if card_link is None:
            card_link = f"models:/{name}/{version}"
        # Pin the version so a moving alias cannot change the model under a cached entry.
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}"))
    else:
        local = Path(uri)
        if not local.exists():
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    bundle = Bundle.of_model(local)
    names = [c["name"] for c in bundle.input_columns] or None
    model = BoardModel(uri=uri, bundle=bundle, name=name, version=version, alias=alias,
                       card_link=card_link, input_columns=names, domain=bundle.domain,
                       risk_groups=bundle.risk_groups, radiomics=bundle.radiomics)
    if bundle.has_models:
        model.model = ICIPredictModel().load_bundle(bundle)
    else:
        model.pyfunc = mlflow.pyfunc.load_model(str(local))
    with _LOCK:
        _CACHE[uri] = model
    logger.info("loaded model %s (version %s)", uri, version)
    return model
