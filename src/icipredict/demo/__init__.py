"""The demo: the whole way of the data on the built-in synthetic multi-centre network.

``icipredict demo`` (and ``make demo``) runs it. Each step is a function taking the
:class:`DemoContext`, so the demo grows with the package one step at a time, and the tests can
run the same steps on a smaller network:

1. generate the six-centre network (each centre in its own format, with its own quirks);
2. ingest every centre into the DuckDB store (validated, harmonised, pseudonymised);
3. build the genomic + clinical + imaging feature matrix (radiomics from the synthetic images,
   through the feature cache in the work folder: a second run computes nothing);
4. train the response and OS/PFS models with leave-one-centre-out validation, tracked in a local
   MLflow (SQLite in the work folder);
5. register the model and promote it to ``champion`` through the gate, judged on held-out
   patients of a later export of the network (forced, with a recorded reason, only if refused);
6. score three example patients (complete, without imaging, outside the training domain) and a
   weekly list for the tumour board (HTML + JSON reports, HTML + CSV list).

Re-running is idempotent: same seed, same files; unchanged centres are not re-stored; the
training run, registered version and champion are reused when the store content and the
experiment config are unchanged (``retrain=True`` trains anew).

The modules, one job each:

:mod:`~icipredict.demo.context` (where it writes, the fixed demo key), :mod:`~icipredict.demo.cohort`
(steps 1-3), :mod:`~icipredict.demo.training` (steps 4-5), :mod:`~icipredict.demo.board` (step 6),
:mod:`~icipredict.demo.run` (the steps in order, :func:`run_demo`) and :mod:`~icipredict.demo.show`
(what the CLI prints).
"""

from icipredict.demo.board import example_records, patient_record, step_board
from icipredict.demo.cohort import (
    cohort_radiomics,
    demo_store,
    harmonisation_table,
    ingest_network,
    step_features,
    step_generate,
    step_ingest,
)
from icipredict.demo.context import (
    DEMO_EXPERIMENT,
    DEMO_KEY_TAG,
    DEMO_PSEUDONYM_KEY,
    PROJECT_ROOT,
    DemoContext,
)
from icipredict.demo.run import STEPS, run_demo
from icipredict.demo.show import closing_lines, harmonisation_lines, step_tables
from icipredict.demo.training import (
    external_cohort,
    loco_table,
    step_register,
    step_train,
    write_heldout,
)

__all__ = [
    "DEMO_EXPERIMENT",
    "DEMO_KEY_TAG",
    "DEMO_PSEUDONYM_KEY",
    "PROJECT_ROOT",
    "STEPS",
    "DemoContext",
    "closing_lines",
    "cohort_radiomics",
    "demo_store",
    "example_records",
    "external_cohort",
    "harmonisation_lines",
    "harmonisation_table",
    "ingest_network",
    "loco_table",
    "patient_record",
    "run_demo",
    "step_board",
    "step_features",
    "step_generate",
    "step_ingest",
    "step_register",
    "step_tables",
    "step_train",
    "write_heldout",
]
