"""The network's BRCA1/2 registry: classified variants, origin, second hits, defects, outcomes.

Modules: :mod:`.classify` (rules + the versioned knowledge base ``knowledge_base.yaml``),
:mod:`.origin` (somatic, tumour-only, germline; the ESMO follow-up rule), :mod:`.registry`
(the classified table from the store's current tables), :mod:`.second_hit` (biallelic
status), :mod:`.defects` (patient classes, HR co-alterations, TMB/MSI), :mod:`.outcomes`
(ORR, Kaplan-Meier, log-rank, small-cell suppression) and :mod:`.report` (HTML).
See ``docs/brca_registry.md``.
"""

from icipredict.cohort.brca.classify import (
    CLASSES,
    KnowledgeBase,
    classify_cna,
    classify_frame,
    classify_variant,
    load_knowledge_base,
)
from icipredict.cohort.brca.origin import ESMO_RULE, assign_origin
from icipredict.cohort.brca.registry import (
    REGISTRY_COLUMNS,
    Analysis,
    Registry,
    analyse,
    build_registry,
    registry_from_store,
)

__all__ = [
    "CLASSES", "ESMO_RULE", "Analysis", "analyse", "KnowledgeBase", "REGISTRY_COLUMNS", "Registry", "assign_origin",
    "build_registry", "classify_cna", "classify_frame", "classify_variant",
    "load_knowledge_base", "registry_from_store",
]
