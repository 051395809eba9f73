"""training stage of icipredict (see DESIGN.md): experiment configs in, trained models out, no MLflow.

Between evaluation and tracking on the way of the data: it imports cohort (the store), features,
modeling and evaluation (the one cross-validation function, metrics with CIs), and nothing that
logs. :mod:`icipredict.tracking` logs and registers what it returns.

- :mod:`.config` -- experiment configs (``experiments/*.yaml``) validated by pydantic
- :mod:`.data` -- the training frame: store query or column-mapped files, radiomics
- :mod:`.pipeline` -- :func:`~.pipeline.fit_experiment` -> :class:`~.pipeline.TrainedExperiment`
- :mod:`.assessment` -- held-out metrics, comparator comparisons, subgroups
- :mod:`.figures` -- ROC, calibration, decision curve, KM by risk group, importance
"""
