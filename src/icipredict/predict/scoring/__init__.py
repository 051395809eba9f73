"""Scoring patients for the tumour board through the registry model, one job per module.

:mod:`~icipredict.predict.scoring.result` (the :class:`BoardScore` layout and constants),
:mod:`~icipredict.predict.scoring.loader` (the registry model, loaded once per URI),
:mod:`~icipredict.predict.scoring.board_warnings` (domain, modality, follow-up and radiomics
warnings), :mod:`~icipredict.predict.scoring.assemble` (one output row read for the board: response
wording, risk group, survival curves), :mod:`~icipredict.predict.scoring.single` (one record or
ID), :mod:`~icipredict.predict.scoring.batch` (a weekly list of records),
:mod:`~icipredict.predict.scoring.stored` (patients of the cohort store) and
:mod:`~icipredict.predict.scoring.table` (the weekly list as a flat table).
:mod:`icipredict.predict.scorer` re-exports them all.
"""
