"""The demo's context: where it writes, what earlier steps produced, and its fixed settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from icipredict.synthetic import Network

#: The project folder (``experiments/`` and ``models/`` live there in a source checkout).
PROJECT_ROOT = Path(__file__).resolve().parents[3]
#: The demo's experiment config.
DEMO_EXPERIMENT = PROJECT_ROOT / "experiments" / "demo_synthetic.yaml"
#: Tag on the training run: the store content and config it was trained from (for re-use).
DEMO_KEY_TAG = "demo_key"
#: The demo's pseudonymisation secret: a published, fixed demonstration key, so that the demo's
#: patient IDs, and the patients it picks and scores, are the same on every machine. It is used
#: only for the demo's own stores (``<workdir>/icipredict.duckdb`` and ``external.duckdb``) of
#: synthetic patients; the user's key (``ICIPREDICT_PSEUDONYM_KEY`` or the key file) is neither
#: read nor created. Being public, it must never pseudonymise real patients.
DEMO_PSEUDONYM_KEY = b"icipredict-demo: public demonstration key, synthetic patients only"


@dataclass
class DemoContext:
    """Where the demo writes and what earlier steps produced."""

    workdir: Path
    n_patients: int = 600
    seed: int = 7
    experiment: Path = DEMO_EXPERIMENT
    retrain: bool = False
    n_weekly: int = 12
    network: Network | None = None
    ingests: list[dict] = field(default_factory=list)
    harmonisation: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    brca: pd.DataFrame | None = None
    features: pd.DataFrame | None = None
    missingness: pd.DataFrame | None = None
    radiomics_cached: int = 0
    radiomics_computed: int = 0
    run_id: str | None = None
    reused_run: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    folds: pd.DataFrame | None = None
    model_name: str = "icipredict-demo"
    version: str | None = None
    promotion: str | None = None
    forced: bool = False
    scores: dict[str, Any] = field(default_factory=dict)
    weekly: dict[str, Path] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()

    @property
    def network_dir(self) -> Path:
        """Folder of the generated centres' files."""
        return self.workdir / "network"

    @property
    def store_path(self) -> Path:
        """The demo's DuckDB cohort store."""
        return self.workdir / "icipredict.duckdb"

    @property
    def external_dir(self) -> Path:
        """A later export of the network: held-out patients for the gate and the board."""
        return self.workdir / "external"

    @property
    def external_store_path(self) -> Path:
        """Store of the held-out patients (kept apart from the training store)."""
        return self.workdir / "external.duckdb"

    @property
    def heldout_path(self) -> Path:
        """The gate's held-out evaluation table (model inputs + outcomes of the new patients)."""
        return self.workdir / "heldout.parquet"

    @property
    def cache_dir(self) -> Path:
        """Radiomics feature cache (keyed by settings and image hashes)."""
        return self.workdir / "cache" / "radiomics"

    @property
    def tracking_uri(self) -> str:
        """The local MLflow tracking and registry store."""
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    @property
    def board_dir(self) -> Path:
        """Reports for the tumour board."""
        return self.workdir / "board"

    @property
    def model_uri(self) -> str:
        """The champion's registry URI."""
        return f"models:/{self.model_name}@champion"
