"""Experiment configs: moved to :mod:`icipredict.training.config` (re-exported here).

The training stage (left of tracking) reads the config, so it lives there; this module keeps the
old import path working.
"""

from icipredict.training.config import (
    CohortSource,
    ExperimentConfig,
    FileSource,
    Radiomics,
    StoreSource,
    Target,
    Tracking,
    Validation,
    flatten,
    load_experiment,
)

__all__ = ["CohortSource", "ExperimentConfig", "FileSource", "Radiomics", "StoreSource", "Target",
           "Tracking", "Validation", "flatten", "load_experiment"]
