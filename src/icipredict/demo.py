"""The demo: the whole way of the data on the built-in synthetic multi-centre network.

``icipredict demo`` (and ``make demo``) runs it. Each step is a function taking the
:class:`DemoContext`, so the demo grows with the package one step at a time, and the tests can
run the same steps on a smaller network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from icipredict.cohort.loaders import load_source
from icipredict.cohort.store import CohortStore, source_content_hash
from icipredict.cohort.synthetic import Network, generate_network

log = logging.getLogger(__name__)


@dataclass
class DemoContext:
    """Where the demo writes and what earlier steps produced."""

    workdir: Path
    n_patients: int = 600
    seed: int = 7
    network: Network | None = None
    ingests: list[dict] = field(default_factory=list)
    summary: pd.DataFrame | None = None
    brca: pd.DataFrame | None = None

    @property
    def network_dir(self) -> Path:
        """Folder of the generated centres' files."""
        return self.workdir / "network"

    @property
    def store_path(self) -> Path:
        """The demo's DuckDB cohort store."""
        return self.workdir / "icipredict.duckdb"


def step_generate(ctx: DemoContext) -> str:
    """Generate the six-centre network in the centres' own formats."""
    ctx.network = generate_network(ctx.network_dir, n_patients=ctx.n_patients, seed=ctx.seed)
    net = ctx.network
    return (f"{net.n_patients} patients in {len(net.sources)} centres, {net.n_imaged} lesion "
            f"images, {net.n_variants} MAF rows -> {ctx.network_dir}")


def step_ingest(ctx: DemoContext) -> str:
    """Validate, harmonise, pseudonymise and store every centre (all-or-nothing each)."""
    assert ctx.network is not None
    store = CohortStore(ctx.store_path)
    ctx.ingests = []
    for centre, source in ctx.network.sources.items():
        cohort = load_source(source, centre=centre)
        result = store.ingest(cohort, centre=centre, content_hash=source_content_hash(source),
                              source=str(source))
        ctx.ingests.append({"centre": centre, "version": result.version,
                            "changed": result.changed, **result.row_counts})
    ctx.summary = store.summary()
    ctx.brca = store.brca_carriers()
    return (f"{len(ctx.ingests)} centres in {ctx.store_path}; BRCA1/2 registry: "
            f"{ctx.brca['patient_id'].nunique()} carriers")


#: The demo's steps, in order: (title, function).
STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("Generate the synthetic network", step_generate),
    ("Ingest the centres into the cohort store", step_ingest),
]


def run_demo(ctx: DemoContext, on_step: Callable[[int, str, str], None] | None = None) -> DemoContext:
    """Run every demo step; ``on_step(i, title, result)`` is called after each one."""
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    for i, (title, step) in enumerate(STEPS, start=1):
        log.info("demo step %d: %s", i, title)
        result = step(ctx)
        if on_step is not None:
            on_step(i, title, result)
    return ctx
