"""Small helpers every stage may use (the base under the stages, importing none of them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
