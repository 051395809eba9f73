"""Test helper: a fresh, already-migrated MLflow SQLite store per test.

Creating MLflow's tables runs dozens of migrations (seconds each time); tests copy one migrated
template database, made once per test process, instead.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

_TEMPLATE: Path | None = None


def fresh_tracking_uri(tmp_path: Path) -> str:
    """``sqlite:///`` URI of a new, empty, migrated MLflow database inside ``tmp_path``."""
    global _TEMPLATE
    if _TEMPLATE is None or not _TEMPLATE.is_file():
        import mlflow

        template = Path(tempfile.mkdtemp(prefix="mlflow-template-")) / "mlflow.db"
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
        _TEMPLATE = template
    db = tmp_path / "mlflow.db"
    shutil.copyfile(_TEMPLATE, db)
    return f"sqlite:///{db}"
