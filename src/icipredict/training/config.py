"""Experiment configs (``experiments/*.yaml``): what to train on, how, and where to track it.

The config is plain data (no MLflow): :func:`icipredict.training.pipeline.fit_experiment` trains
from it; the ``tracking:`` section is read only by :mod:`icipredict.tracking`.

Example::

    name: rf16_reproduction
    description: Chowell 2022 RF16 refit on the paper's random split.
    cohort:
      files:                                  # or: store: {centres: [MSK]}
        - {column_map: cohorts/chowell2022_train.yaml, split: train}
        - {column_map: cohorts/chowell2022_test.yaml, split: test}
    features: ../models/features/rf16.yaml
    models: [../models/rf16.yaml]
    targets: [response, os, pfs]
    validation: {scheme: split_column, column: split, test_value: test}
    tracking: {experiment: icipredict-rf16, registered_model: icipredict}
    radiomics:                                # optional; default: builtin settings, largest
      settings: radiomics/ct_bw25.yaml        # pyradiomics params file, or default / ibsi / ibsi_a..e
      lesion_rule: largest                    # or volume_weighted

Relative paths resolve against the YAML file's folder, then against the project root (the folder
holding ``experiments/``), so both ``../models/rf16.yaml`` and ``models/rf16.yaml`` work. Errors
name the YAML file, the line and the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from icipredict._util import read_yaml
from icipredict.cohort.schema import CohortError

Target = Literal["response", "os", "pfs"]


def _all_targets() -> list[Target]:
    """Default targets: response and both survival endpoints."""
    return ["response", "os", "pfs"]


class StoreSource(BaseModel):
    """A cohort selected from the DuckDB store."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="Store file (default: config.default_store()).")
    centres: list[str] | None = Field(None, description="Centres to include (default: all).")


class FileSource(BaseModel):
    """A cohort read from a centre's file(s) through a column map."""

    model_config = ConfigDict(extra="forbid")

    column_map: str = Field(description="Column-map YAML (see cohort.column_map).")
    split: str | None = Field(
        None, description="Value of the 'split' column given to these patients (e.g. train/test)."
    )


class CohortSource(BaseModel):
    """Where the cohort comes from: a store query, or column-mapped files (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    store: StoreSource | None = None
    files: list[FileSource] | None = None

    @field_validator("files", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str | dict):
            value = [value]
        if isinstance(value, list):
            return [{"column_map": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CohortSource:
        if (self.store is None) == (not self.files):
            raise ValueError("give exactly one of 'store' (a store query) or 'files' "
                             "(column maps)")
        return self


class Validation(BaseModel):
    """How performance is estimated."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["kfold", "repeated_kfold", "split_column", "leave_one_centre_out"] = "kfold"
    n_splits: int = Field(5, ge=2, description="Folds (kfold, repeated_kfold).")
    n_repeats: int = Field(10, ge=1, description="Repeats (repeated_kfold).")
    column: str | None = Field(None, description="Split column (split_column).")
    test_value: str = Field("test", description="Value of the split column marking test rows.")
    seed: int = 0

    @model_validator(mode="after")
    def _needs_column(self) -> Validation:
        if self.scheme == "split_column" and not self.column:
            raise ValueError("scheme 'split_column' needs 'column' (e.g. column: split)")
        return self


class Tracking(BaseModel):
    """Where runs and models are tracked."""

    model_config = ConfigDict(extra="forbid")

    tracking_uri: str | None = Field(
        None, description="sqlite:///file.db or http(s)://host:port. Precedence as MLflow's: "
        "--tracking-uri > MLFLOW_TRACKING_URI > this > sqlite:///mlflow.db.")
    experiment: str = "icipredict"
    registered_model: str | None = Field(
        "icipredict", description="Registry name for the trained model: `icipredict train "
        "--register` registers it under this name (alias challenger); the demo uses it too."
    )
    artifact_location: str | None = None

    @field_validator("tracking_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:///", "http://", "https://", "postgresql", "mysql")):
            raise ValueError(
                f"{value!r}: use sqlite:///file.db or http(s)://host:port (MLflow refuses the "
                "plain file store for the registry)"
            )
        return value


class Radiomics(BaseModel):
    """How radiomics are computed from images for this experiment (training and the board).

    The settings are recorded in the registry model's ``radiomics.json`` (hash and source), so
    the board recomputes image features with the same settings.
    """

    model_config = ConfigDict(extra="forbid")

    settings: str = Field(
        "default", description="pyradiomics parameter YAML (relative to the experiment file) "
        "or a builtin name (default, ibsi, or ibsi_a ... ibsi_e: the IBSI-1 CT "
        "configurations A-E with IBSI image processing).")
    lesion_rule: Literal["largest", "volume_weighted"] = Field(
        "largest", description="How a patient's lesions become one row (radiomics_matrix).")

    def is_default(self) -> bool:
        """True for the settings every run used before this key existed."""
        return self == Radiomics()


class Selection(BaseModel):
    """Which response model to train, chosen on the training patients before the test is seen.

    Each candidate is fitted on the inner training part and scored (AUC) on the inner
    validation part: each centre in turn (``leave_one_centre_out``), or the patients who
    started ICI from ``validate_from`` on (``time_forward``; ``time_column`` a date or year),
    or stratified folds (``kfold``: for a single centre without start dates).
    The one-standard-error rule keeps every candidate whose mean AUC is within one standard
    error of the best and picks the simplest of them (fewest features read, then linear before
    trees before ensembles); see :mod:`icipredict.training.selection`.
    """

    model_config = ConfigDict(extra="forbid")

    candidates: list[str] = Field(min_length=2, description="Response model spec YAMLs.")
    scheme: Literal["leave_one_centre_out", "time_forward", "kfold"] = "leave_one_centre_out"
    time_column: str = Field("start_date", description="time_forward: the ICI start column.")
    validate_from: int | None = Field(None, description="time_forward: first year of the inner "
                                      "validation patients (earlier years train).")
    n_bootstrap: int = Field(500, ge=50, description="Resamples for the SE of one split.")
    n_splits: int = Field(5, ge=2, description="kfold: stratified folds (single-centre cohorts "
                          "without start dates).")

    @model_validator(mode="after")
    def _needs_year(self) -> Selection:
        if self.scheme == "time_forward" and self.validate_from is None:
            raise ValueError("scheme 'time_forward' needs 'validate_from' (a year)")
        return self


class ExperimentConfig(BaseModel):
    """One experiment: cohort, feature spec, model spec(s), targets, validation, tracking."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    cohort: CohortSource
    features: str = Field(description="Feature spec YAML (features.spec).")
    models: list[str] = Field(min_length=1, description="Model spec YAML(s) from models/.")
    targets: list[Target] = Field(default_factory=_all_targets, min_length=1)
    horizons: list[float] = Field(default_factory=lambda: [6.0, 12.0, 24.0],
                                  description="Survival horizons in months.")
    validation: Validation = Field(default_factory=Validation)
    tracking: Tracking = Field(default_factory=Tracking)
    radiomics: Radiomics = Field(default_factory=Radiomics)
    selection: Selection | None = Field(
        None, description="Choose the response model among candidates on the training patients "
        "(the chosen one is the primary response model; response models of 'models' become "
        "comparators).")
    n_bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples for CIs.")
    interval_refits: int = Field(
        20, ge=0, le=200, description="Ignored (kept so older experiment files still load; "
        "the default is kept so in-memory config hashes do not change): the registry model's "
        "95% response intervals come from the held-out predictions, nothing is refitted.")
    seed: int = 0

    # Filled by load_experiment (not part of the YAML).
    source_path: Path | None = Field(None, exclude=True)

    @field_validator("models", mode="before")
    @classmethod
    def _one_model(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"targets repeat: {value}")
        return value

    @field_validator("horizons")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(h <= 0 for h in value):
            raise ValueError(f"horizons must be positive months, got {value}")
        return value

    # -- paths ------------------------------------------------------------------------------

    def resolve(self, path: str, field: str = "path") -> Path:
        """Resolve a path written in the config (YAML folder first, then the project root)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source_path is None:
            candidates = [p]
        else:
            here = self.source_path.parent
            candidates = [here / p, here.parent / p]
        for c in candidates:
            if c.exists():
                return c.resolve()
        tried = ", ".join(str(c) for c in candidates)
        raise CohortError(f"{field}: file {path!r} not found (tried {tried})",
                          file=self.source_path, row=_line_of(self.source_path, field),
                          column=field)

    @property
    def feature_spec_path(self) -> Path:
        """Absolute path of the feature spec."""
        return self.resolve(self.features, "features")

    @property
    def model_spec_paths(self) -> list[Path]:
        """Absolute paths of the model specs."""
        return [self.resolve(m, f"models.{i}") for i, m in enumerate(self.models)]

    @property
    def candidate_spec_paths(self) -> list[Path]:
        """Absolute paths of the selection's candidate model specs (empty without selection)."""
        cands = self.selection.candidates if self.selection is not None else []
        return [self.resolve(m, f"selection.candidates.{i}") for i, m in enumerate(cands)]

    @property
    def column_map_paths(self) -> list[Path]:
        """Absolute paths of the column maps (empty for a store source)."""
        return [self.resolve(f.column_map, f"cohort.files.{i}.column_map")
                for i, f in enumerate(self.cohort.files or [])]

    @property
    def radiomics_settings(self) -> str | Path:
        """The radiomics settings to build the engine from: a builtin name or an absolute path."""
        from icipredict.features.radiomics_engine import BUILTIN_SETTINGS

        name = self.radiomics.settings
        return name if name in BUILTIN_SETTINGS else self.resolve(name, "radiomics.settings")

    def check_radiomics(self) -> None:
        """Raise :class:`CohortError` naming this file and ``radiomics.settings`` when the
        settings file is missing or does not validate (the message carries the settings file's
        own error: its path and key)."""
        from icipredict.features.radiomics_engine import load_settings

        if self.radiomics.settings == "default":
            return  # the builtin default ships with the package and is tested there
        settings = self.radiomics_settings
        try:
            load_settings(settings)
        except (CohortError, yaml.YAMLError) as exc:
            detail = str(exc) if isinstance(exc, CohortError) else \
                f"file {settings}: not valid YAML ({' '.join(str(exc).split())})"
            raise CohortError(f"radiomics settings {self.radiomics.settings!r} are invalid: "
                              f"{detail}", file=self.source_path,
                              row=_line_of(self.source_path, "radiomics.settings"),
                              column="radiomics.settings") from exc

    def check_paths(self) -> None:
        """Raise :class:`CohortError` naming the field when a referenced file is missing (or,
        for ``radiomics.settings``, invalid)."""
        self.feature_spec_path  # noqa: B018 - resolving raises on a missing file
        self.model_spec_paths  # noqa: B018
        self.candidate_spec_paths  # noqa: B018
        self.column_map_paths  # noqa: B018
        self.check_radiomics()

    def load_specs(self) -> tuple[Any, list[Any]]:
        """Read and validate the feature spec and model specs (errors name the spec file)."""
        from icipredict.features.spec import read_spec
        from icipredict.modeling.spec import load_spec

        return read_spec(self.feature_spec_path), [load_spec(p) for p in self.model_spec_paths]

    # -- tracking helpers -------------------------------------------------------------------

    def config_hash(self) -> str:
        """SHA-256 (first 12 hex) of the YAML file's text, or of the validated config."""
        if self.source_path is not None and self.source_path.is_file():
            data = self.source_path.read_bytes()
        else:
            # Default radiomics left out: configs without the key hash as they always did.
            # Defaults of later keys left out: configs without them hash as they always did.
            exclude = ({"radiomics"} if self.radiomics.is_default() else set()) | (
                {"selection"} if self.selection is None else set())
            data = self.model_dump_json(exclude=exclude or None).encode()
        return hashlib.sha256(data).hexdigest()[:12]

    def flat_params(self) -> dict[str, str]:
        """The config flattened to ``a.b.c -> value`` strings, for ``mlflow.log_params``."""
        return {k: str(v)[:6000] for k, v in flatten(self.model_dump(mode="json")).items()}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts/lists to dotted keys (``cohort.files.0.column_map``)."""
    out: dict[str, Any] = {}
    items: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list) and any(isinstance(v, dict | list) for v in data):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _line_of(path: Path | None, dotted: str) -> int | None:
    """1-based line of a dotted field in a YAML file (best effort; None when not found)."""
    if path is None or not path.is_file():
        return None
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None
    line = None
    for part in dotted.split("."):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() \
                and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_experiment(path: str | Path, *, check_paths: bool = True) -> ExperimentConfig:
    """Read and validate an experiment YAML.

    Parameters
    ----------
    path
        The YAML file (e.g. ``experiments/rf16_reproduction.yaml``).
    check_paths
        Also check that the referenced feature spec, model specs and column maps exist, and that
        the radiomics settings file (``radiomics.settings``) exists and validates.

    Raises
    ------
    CohortError
        Naming the file, the line and the field when the file is missing, not YAML, does not
        follow :class:`ExperimentConfig`, or references a missing file.
    """
    path = Path(path)
    raw = read_yaml(path, "experiment config", CohortError)
    if not isinstance(raw, dict):
        raise CohortError("an experiment config is a YAML mapping (name: ..., cohort: ...)",
                          file=path)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        value = f"; got {first['input']!r}" if first["type"] != "missing" and \
            not isinstance(first["input"], dict) else ""
        raise CohortError(f"invalid experiment config: {loc or 'top level'}: "
                          f"{first['msg']}{value}{more}", file=path, row=_line_of(path, loc),
                          column=loc or None) from exc
    config.source_path = path.resolve()
    if check_paths:
        config.check_paths()
    return config
