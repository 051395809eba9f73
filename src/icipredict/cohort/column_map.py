"""YAML column maps: how a centre's own table(s) map onto the cohort contract.

A column map names, for each canonical column (see :mod:`icipredict.cohort.schema`), the source
column, its unit and its coding. Example::

    name: chowell2022_random_split
    centre: MSK
    files:
      - path: chowell2022_train.csv        # relative to this YAML file unless absolute
        columns:
          patient_id: SAMPLE_ID            # short form: just the source column
          sample_id: SAMPLE_ID
          age: {column: Age, unit: years}
          sex: {column: "Sex (1:Male; 0:Female)", values: {1: male, 0: female}}
          albumin: {column: Albumin, unit: g/dL}
          os_months: {column: OS_Months, unit: months}
          os_event: {column: OS_Event, event_value: 1}   # the source value that means "event"
        constants:
          panel: MSK-IMPACT468

The canonical column decides the table it lands in; ``patient_id`` is shared by all tables.

Column specs
    ``column`` (source name), ``unit`` (converted to the canonical unit; unknown units are an
    error), ``values`` (recoding; keys match case-insensitively and ``1`` matches ``1.0``; a source
    value missing from the map is an error), ``event_value``/``censor_value`` (for 0/1 flags: the
    source values meaning "event" and "censored"; ``censor_value`` defaults to ``1 - event_value``).

Several files
    Every file must map ``patient_id``. Files that provide the *same set* of canonical columns are
    stacked as rows (e.g. one file per year); files with *different* columns are joined on
    ``patient_id`` (e.g. clinical.csv + labs.xlsx); a canonical column may come from only one such
    group. A patient ID that appears twice across stacked files is an error naming both places.

File options
    ``format`` (csv/tsv/parquet/xlsx; default from the suffix), ``sheet`` (XLSX), ``sep``,
    ``na_values`` (extra strings meaning missing), ``id_prefix`` (prepended to patient and sample
    IDs: for files whose IDs are row numbers unique only within the file).

Data paths
    Relative paths are resolved against the YAML's folder. A path that goes through a
    ``shared/data/`` folder (the real public cohorts: ``../../../shared/data/ici/...``) is re-based
    on ``data_dir`` when the loader is given one, else on ``$ICIPREDICT_SHARED_DATA`` when set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from icipredict._util import read_yaml, validation_problems
from icipredict.cohort.schema import CONTRACTS, CohortError


class ColumnSpec(BaseModel):
    """How one canonical column is read from the source."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(description="Column name in the source file.")
    unit: str | None = Field(
        default=None, description="Unit of the source values (converted to canonical)."
    )
    values: dict[Any, Any] | None = Field(
        default=None, description="Recoding of source values to canonical values (e.g. {1: male})."
    )
    event_value: Any | None = Field(
        default=None,
        description="For event flags: the source value that means the event happened "
        "(1 in most cohorts; some code 1 = censored, then event_value: 0).",
    )
    censor_value: Any | None = Field(
        default=None, description="For event flags: the source value meaning censored "
        "(default 1 - event_value when that is 0/1)."
    )


class FileMap(BaseModel):
    """One source file (or sheet) and the canonical columns it provides."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="File path, relative to the column map.")
    format: str | None = Field(
        default=None, description="csv, tsv, parquet or xlsx (default: suffix)."
    )
    sheet: str | None = Field(default=None, description="XLSX sheet name.")
    sep: str | None = Field(default=None, description="Field separator (default: from the suffix).")
    na_values: list[str] = Field(default_factory=list,
                                 description="Extra source strings that mean missing.")
    id_prefix: str | None = Field(default=None, description="Prefix for patient/sample IDs.")
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    constants: dict[str, Any] = Field(default_factory=dict)

    @field_validator("columns", mode="before")
    @classmethod
    def _short_form(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k: {"column": v} if isinstance(v, str) else v for k, v in (value or {}).items()}

    @field_validator("columns", "constants")
    @classmethod
    def _known_canonical(cls, value: dict[str, Any]) -> dict[str, Any]:
        known = canonical_columns()
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown canonical column(s) {unknown}; known: {sorted(known)}")
        return value


class ColumnMap(BaseModel):
    """A centre's whole source description."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    centre: str | None = None
    files: list[FileMap]
    mutations: str | None = Field(
        default=None, description="MAF file (plain or .gz), relative path."
    )
    base_dir: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: str) -> Path:
        """Resolve a path written in the map relative to the map's folder."""
        p = Path(path)
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return p


def canonical_columns() -> set[str]:
    """All canonical column names across the contract tables."""
    return {c.name for contract in CONTRACTS.values() for c in contract.columns}


def read_column_map(path: str | Path, *, base_dir: str | Path | None = None) -> ColumnMap:
    """Read and validate a column-map YAML file.

    Parameters
    ----------
    path
        The YAML file.
    base_dir
        Folder that relative data paths are resolved against (default: the YAML's folder).

    Raises
    ------
    CohortError
        If the file is missing, not YAML, or does not follow the column-map schema.
    """
    path = Path(path)
    raw = read_yaml(path, "column map", CohortError)
    try:
        cmap = ColumnMap.model_validate(raw)
    except ValidationError as exc:
        raise CohortError(f"invalid column map: {validation_problems(exc)}", file=path) from exc
    cmap.base_dir = Path(base_dir) if base_dir is not None else path.parent
    return cmap
