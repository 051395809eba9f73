"""The demo's steps in order and the runner that times them (third-party chatter kept quiet)."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from icipredict.demo.board import step_board
from icipredict.demo.cohort import step_features, step_generate, step_ingest
from icipredict.demo.context import DemoContext
from icipredict.demo.training import step_register, step_train

log = logging.getLogger(__name__)

#: The demo's steps, in order: (title, function).
STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("Generate the synthetic network", step_generate),
    ("Ingest the centres into the cohort store", step_ingest),
    ("Build clinical + genomic + imaging features", step_features),
    ("Train response and OS/PFS models (leave-one-centre-out, MLflow)", step_train),
    ("Register and promote the champion (gate)", step_register),
    ("Score patients for the tumour board", step_board),
]


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep the demo's output readable: third-party warnings and INFO chatter off.

    Convergence warnings of single-fold Cox fits on small centres and MLflow's start-up and
    signature notes say nothing the demo's tables do not; our own warnings still show.
    """
    import mlflow  # noqa: F401 - configures its loggers on import; quieten them afterwards

    noisy = [logging.getLogger(n) for n in ("mlflow", "mlflow.store.db.utils", "mlflow.pyfunc",
                                            "alembic")]
    levels = [lg.level for lg in noisy]
    with warnings.catch_warnings():
        for module in ("lifelines", "mlflow", "sklearn", "pandas", "numpy", "xgboost"):
            warnings.filterwarnings("ignore", module=module)
        warnings.filterwarnings("ignore", message=".*type hints to the `predict` method")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        for lg in noisy:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(noisy, levels, strict=True):
                lg.setLevel(level)


def run_demo(ctx: DemoContext, on_step: Callable[[int, str, str], None] | None = None,
             steps: list[tuple[str, Callable[[DemoContext], str]]] | None = None) -> DemoContext:
    """Run every demo step; ``on_step(i, title, result)`` is called after each one.

    Per-step wall-clock seconds are appended to ``ctx.timings``. ``steps`` runs a prefix or
    subset of :data:`STEPS` instead (e.g. only the cohort steps).
    """
    from icipredict.tracking.mlflow_setup import disable_telemetry

    disable_telemetry()
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    ctx.timings = []
    for i, (title, step) in enumerate(steps or STEPS, start=1):
        log.info("demo step %d: %s", i, title)
        start = time.perf_counter()
        with _quiet():
            result = step(ctx)
        ctx.timings.append((title, time.perf_counter() - start))
        if on_step is not None:
            on_step(i, title, result)
    return ctx
