"""Small helpers every stage may use (the base under the stages, importing none of them)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from pydantic import ValidationError

if TYPE_CHECKING:
    from icipredict.errors import IcipredictError


def read_yaml(path: str | Path, what: str, error: type[IcipredictError]) -> Any:
    """Parse a YAML file, raising ``error(message, file=path)`` when missing or not YAML.

    Parameters
    ----------
    path
        The YAML file.
    what
        What the file is, for the message (e.g. ``"column map"``).
    error
        The exception class to raise; it takes the message and a ``file`` keyword
        (:class:`icipredict.cohort.schema.CohortError`).
    """
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{what} not found", file=path) from exc
    except yaml.YAMLError as exc:
        raise error(f"not valid YAML: {exc}", file=path) from exc


def validation_problems(exc: ValidationError) -> str:
    """Every problem of a pydantic error as ``field.path: message`` joined by ``; ``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, else None (JSON null: never NaN/Infinity)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def json_ready(obj: Any) -> Any:
    """Nested dicts/lists/arrays as plain JSON values: every non-finite float becomes None,
    numpy scalars and arrays become Python ones, dict keys become strings."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_ready(v) for v in obj.tolist()]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return finite_float(obj)
    return obj
