"""The scikit-learn steps the feature builder chains (see :mod:`icipredict.features.builder`).

- :class:`Derive`: canonical input columns -> one raw column per registry feature (NLR from
  counts, vocabularies mapped to numbers, cancer types as OncoTree codes), with the spec's caps.
- :class:`OneHot`: scikit-learn's ``OneHotEncoder`` (rare levels grouped by ``min_frequency``,
  unseen levels to that group or to zeros) whose rows with a missing category stay missing, so
  the imputer, not the encoder, decides what a missing value becomes.
- :class:`ModalityMissing`: ``missing_<modality>`` = 1 when every feature of a modality is
  missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import OneHotEncoder

from icipredict.features import registry

#: How scikit-learn names the grouped infrequent levels (renamed ``other``).
_INFREQUENT = "infrequent_sklearn"


class Derive(TransformerMixin, BaseEstimator):
    """One raw column per feature (registry order given), before encoding.

    Parameters
    ----------
    features
        Registry names (spec names, ``mut_<GENE>``, ``radiomics_*``, ``cancer_type`` or
        ``cancer_group``) in output order.
    caps
        Upper caps by output column (``{"tmb": 50}``); NaN stays NaN.
    """

    def __init__(self, features: Sequence[str] = (), caps: Mapping[str, float] | None = None
                 ) -> None:
        self.features = features
        self.caps = caps

    def fit(self, X: pd.DataFrame, y: Any = None) -> Derive:
        """Nothing to learn (the columns are fixed by the spec)."""
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Raw feature columns (objects for one-hot features, floats otherwise)."""
        out = {}
        caps = self.caps or {}
        for name in self.features:
            entry = registry.get(name)
            values = entry.values(X)
            if entry.output in caps:
                values = np.minimum(values, caps[entry.output])  # NaN stays NaN
            out[entry.output] = values
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output columns (one per feature)."""
        return np.asarray([registry.get(n).output for n in self.features], dtype=object)


def _column_name(prefix: str) -> Any:
    def combine(feature: str, level: Any) -> str:
        return f"{prefix}_{registry.OTHER_LEVEL if level == _INFREQUENT else registry.slug(level)}"
    return combine


def _column(X: pd.DataFrame | pd.Series) -> pd.Series:
    """The one category column (the ColumnTransformer hands it over as a Series)."""
    return X if isinstance(X, pd.Series) else X.iloc[:, 0]


class OneHot(TransformerMixin, BaseEstimator):
    """``OneHotEncoder`` on one category column; missing categories give missing rows.

    The input is that column (a Series, or a one-column frame).

    Parameters
    ----------
    prefix
        Output columns are ``<prefix>_<level>`` (``<prefix>_other`` for the grouped levels).
    min_frequency
        Levels seen fewer times in training are grouped (``OneHotEncoder(min_frequency=...)``).
    """

    def __init__(self, prefix: str = "", min_frequency: int | None = None) -> None:
        self.prefix = prefix
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y: Any = None) -> OneHot:
        """Learn the levels of the non-missing values (none seen: no output column)."""
        given = _column(X).dropna().astype(str)
        self.encoder_ = None
        if len(given):
            # Unseen levels go to the grouped level when there is one, else to zeros.
            self.encoder_ = OneHotEncoder(
                min_frequency=self.min_frequency, handle_unknown="infrequent_if_exist",
                sparse_output=False, feature_name_combiner=_column_name(self.prefix),
            ).fit(given.to_frame())
        self._rows: dict = {}
        self._names = (np.asarray([], dtype=object) if self.encoder_ is None else
                       np.asarray(self.encoder_.get_feature_names_out(), dtype=object))
        self.n_features_in_ = 1
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return "_names" in self.__dict__

    @property
    def levels_(self) -> list[str]:
        """Levels with their own column (training order: sorted)."""
        if self.encoder_ is None:
            return []
        rare = set(self._rare())
        return [str(c) for c in self.encoder_.categories_[0] if c not in rare]

    @property
    def has_other_(self) -> bool:
        """Whether rare levels were grouped into ``<prefix>_other``."""
        return bool(self._rare())

    def _rare(self) -> list[str]:
        # infrequent_categories_ exists only when min_frequency was given.
        if self.encoder_ is None or self.min_frequency is None:
            return []
        rare = self.encoder_.infrequent_categories_[0]
        return [] if rare is None else list(rare)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """0/1 columns per level; NaN in every column where the category is missing."""
        if self.encoder_ is None:
            return np.empty((len(X), 0))
        codes, uniques = pd.factorize(_column(X), use_na_sentinel=True)
        # Each distinct value is encoded once by the encoder and remembered (the encoding is
        # fixed once fitted; single-patient scoring repeats the same few values).
        rows = self.__dict__.setdefault("_rows", {})
        keys = [str(u) for u in uniques]
        new = [k for k in dict.fromkeys(keys) if k not in rows]
        if new:
            encoded = self.encoder_.transform(
                pd.DataFrame({self.encoder_.feature_names_in_[0]: np.asarray(new, dtype=object)}))
            if len(rows) + len(new) > 4096:
                rows.clear()
            rows.update(zip(new, encoded, strict=True))
        table = np.full((len(keys) + 1, len(self._names)), np.nan)
        for i, k in enumerate(keys):
            table[i] = rows[k]
        return table[np.where(codes < 0, len(keys), codes)]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<prefix>_<level>`` (and ``<prefix>_other``)."""
        return self.__dict__.get("_names", np.asarray([], dtype=object)).copy()


class Reorder(TransformerMixin, BaseEstimator):
    """Columns in another order (the ColumnTransformer groups numbers; the model's order is
    the registry's).

    Parameters
    ----------
    columns_in, columns_out
        Input column names and the same names in output order.
    """

    def __init__(self, columns_in: Sequence[str] = (), columns_out: Sequence[str] = ()) -> None:
        self.columns_in = columns_in
        self.columns_out = columns_out

    def fit(self, X: Any, y: Any = None) -> Reorder:
        """Check that the columns are a permutation."""
        position = {c: j for j, c in enumerate(self.columns_in)}
        if sorted(position) != sorted(self.columns_out):
            raise ValueError("Reorder: columns_out must be a permutation of columns_in")
        self.order_ = np.array([position[c] for c in self.columns_out], dtype=np.intp)
        self.n_features_in_ = len(self.columns_in)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``X`` with its columns in :attr:`columns_out` order."""
        return np.asarray(X, dtype=float)[:, self.order_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """:attr:`columns_out`."""
        return np.asarray(list(self.columns_out), dtype=object)


class ModalityMissing(TransformerMixin, BaseEstimator):
    """``missing_<modality>``: 1 when every feature of the modality is missing.

    Parameters
    ----------
    modality_columns
        Derived columns of each modality; a modality without columns is always missing.
    """

    def __init__(self, modality_columns: Mapping[str, Sequence[str]] | None = None) -> None:
        self.modality_columns = modality_columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> ModalityMissing:
        """Nothing to learn."""
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """One 0/1 column per modality."""
        # One isna over the frame, then numpy columns by position (a DataFrame column
        # selection per modality cost more than the test itself for one patient).
        missing = X.isna().to_numpy()
        position = {c: j for j, c in enumerate(X.columns)}
        out = np.ones((len(X), len(self.modality_columns or {})))
        for j, columns in enumerate((self.modality_columns or {}).values()):
            present = [position[c] for c in columns if c in position]
            if present:
                out[:, j] = missing[:, present].all(axis=1)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``missing_<modality>`` per modality."""
        return np.asarray([f"{registry.MISSING_PREFIX}{m}"
                           for m in (self.modality_columns or {})], dtype=object)
