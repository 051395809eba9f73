"""The scikit-learn steps the feature builder chains (see :mod:`icipredict.features.builder`).

- :class:`Derive`: canonical input columns -> one raw column per registry feature (NLR from
  counts, vocabularies mapped to numbers, cancer types as OncoTree codes), with the spec's caps.
- :class:`OneHot`: scikit-learn's ``OneHotEncoder`` (rare levels grouped by ``min_frequency``,
  unseen levels to that group or to zeros) whose rows with a missing category stay missing, so
  the imputer, not the encoder, decides what a missing value becomes.
- :class:`ModalityMissing`: ``missing_<modality>`` = 1 when every encoded column of a modality
  is missing (scikit-learn's ``MissingIndicator`` per column, reduced per modality).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
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
                values = values.clip(upper=caps[entry.output])
            out[entry.output] = values
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output columns (one per feature)."""
        return np.asarray([registry.get(n).output for n in self.features], dtype=object)


def _column_name(prefix: str) -> Any:
    def combine(feature: str, level: Any) -> str:
        return f"{prefix}_{registry.OTHER_LEVEL if level == _INFREQUENT else registry.slug(level)}"
    return combine


class OneHot(TransformerMixin, BaseEstimator):
    """``OneHotEncoder`` on one category column; missing categories give missing rows.

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
        given = X.iloc[:, 0].dropna().astype(str)
        self.encoder_ = None
        if len(given):
            # Unseen levels go to the grouped level when there is one, else to zeros.
            self.encoder_ = OneHotEncoder(
                min_frequency=self.min_frequency, handle_unknown="infrequent_if_exist",
                sparse_output=False, feature_name_combiner=_column_name(self.prefix),
            ).fit(given.to_frame())
        self.n_features_in_ = 1
        return self

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

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """0/1 columns per level; NaN in every column where the category is missing."""
        names = self.get_feature_names_out()
        values = X.iloc[:, 0]
        if self.encoder_ is None:
            return pd.DataFrame(index=X.index, columns=names, dtype=float)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        # Encode each distinct value once (batch scoring sends millions of rows).
        table = np.full((len(uniques) + 1, len(names)), np.nan)
        if len(uniques):
            table[:-1] = self.encoder_.transform(
                pd.DataFrame({self.encoder_.feature_names_in_[0]: np.asarray(uniques).astype(str)}))
        return pd.DataFrame(table[np.where(codes < 0, len(uniques), codes)], index=X.index,
                            columns=names)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<prefix>_<level>`` (and ``<prefix>_other``)."""
        if getattr(self, "encoder_", None) is None:
            return np.asarray([], dtype=object)
        return np.asarray(self.encoder_.get_feature_names_out(), dtype=object)


class ModalityMissing(TransformerMixin, BaseEstimator):
    """``missing_<modality>``: 1 when every encoded column of the modality is missing.

    Parameters
    ----------
    modality_columns
        Encoded columns of each modality; a modality without columns is always missing.
    """

    def __init__(self, modality_columns: Mapping[str, Sequence[str]] | None = None) -> None:
        self.modality_columns = modality_columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> ModalityMissing:
        """Nothing to learn."""
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """One 0/1 column per modality."""
        out = {}
        mask = MissingIndicator(features="all").fit_transform(X.to_numpy(dtype=float)) \
            if X.shape[1] else np.zeros((len(X), 0), dtype=bool)
        position = {c: j for j, c in enumerate(X.columns)}
        for modality, columns in (self.modality_columns or {}).items():
            idx = [position[c] for c in columns if c in position]
            out[f"{registry.MISSING_PREFIX}{modality}"] = (
                mask[:, idx].all(axis=1).astype(float) if idx else np.ones(len(X)))
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``missing_<modality>`` per modality."""
        return np.asarray([f"{registry.MISSING_PREFIX}{m}"
                           for m in (self.modality_columns or {})], dtype=object)
