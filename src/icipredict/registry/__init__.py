"""The registry model: its schema, the bundle (writer and reader), codecs and the pyfunc wrapper.

- :mod:`~icipredict.registry.schema`: input and output columns, params, JSON-safe numbers;
- :mod:`~icipredict.registry.bundle`: :func:`write_bundle` and the :class:`Bundle` reader
  (``predict`` reads models only through it);
- :mod:`~icipredict.registry.codecs`: one export/load pair per estimator class (a class without
  one is refused, never pickled); :mod:`~icipredict.registry.members` the loaded models;
- :mod:`~icipredict.registry.model`: the thin ``mlflow.pyfunc`` model and its logging.
"""
