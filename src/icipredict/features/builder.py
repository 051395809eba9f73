"""One feature builder for training and scoring: cohort (or one patient's record) in, matrix out.

:func:`patient_frame` flattens a :class:`~icipredict.cohort.schema.Cohort` into one row per patient
with canonical columns; :class:`FeatureBuilder` (a scikit-learn transformer configured by a
:class:`~icipredict.features.spec.FeatureSpec`) learns category levels, rare-type grouping,
imputation and scaling statistics on training patients and applies them unchanged to new
patients. Its fitted state is JSON (:meth:`FeatureBuilder.to_json`), saved with every model, so a
single patient's record at the tumour board is encoded exactly as the training patients were.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from icipredict.cohort.schema import SOURCE_ROW, Cohort
from icipredict.features import clinical as clin
from icipredict.features.genomic import DEFAULT_GENES, gene_column, sample_genomics
from icipredict.features.spec import FeatureSpec, read_spec

log = logging.getLogger(__name__)

#: Version of the JSON state layout (bump when it changes).
STATE_VERSION = 1
RADIOMICS_PREFIX = "radiomics_"


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[SOURCE_ROW], errors="ignore")


def patient_frame(cohort: Cohort, radiomics_wide: pd.DataFrame | None = None, *,
                  genes: Sequence[str] = DEFAULT_GENES,
                  include_outcomes: bool = False) -> pd.DataFrame:
    """One row per patient with every canonical input the builder can use.

    Joins ``patients`` + ``labs`` + ``treatments`` + sample-level genomics of the patient's first
    sample (in ``samples`` order): ``tmb`` (computed from ``mutations`` where possible, else the
    reported value), ``tmb_computed``, ``tmb_reported``, ``tmb_source``, MSI/FCNA/HED/HLA LOH and
    ``mut_<GENE>`` flags (missing = not profiled), then the radiomics columns.

    Parameters
    ----------
    cohort
        Harmonised cohort (e.g. from the store).
    radiomics_wide
        One row per patient (index ``patient_id``), columns ``radiomics_<feature>``, e.g. from
        :func:`icipredict.features.imaging.radiomics_matrix`.
    genes
        Genes to flag.
    include_outcomes
        Also join the ``outcomes`` table (for training targets; the builder never reads it).

    Returns
    -------
    DataFrame
        Index ``patient_id``.
    """
    df = _clean(cohort.patients).drop_duplicates("patient_id")
    df = df.assign(patient_id=df["patient_id"].astype(str))
    tables = ["labs", "treatments"] + (["outcomes"] if include_outcomes else [])
    for name in tables:
        other = _clean(getattr(cohort, name)).drop_duplicates("patient_id")
        other = other.assign(patient_id=other["patient_id"].astype(str))
        df = df.merge(other, on="patient_id", how="left")
    samples = _clean(cohort.samples)
    if len(samples):
        genomics = sample_genomics(_clean(cohort.mutations), samples, _clean(cohort.panel_genes),
                                   patients=df, genes=genes)
        genomics = genomics.reset_index()
        genomics["patient_id"] = genomics["patient_id"].astype(str)
        genomics = genomics.drop_duplicates("patient_id")
        df = df.merge(genomics, on="patient_id", how="left")
    else:
        for g in genes:
            df[gene_column(g)] = np.nan
    df = df.set_index("patient_id")
    if radiomics_wide is not None and len(radiomics_wide.columns):
        rad = radiomics_wide.copy()
        rad.index = rad.index.astype(str)
        df = df.join(rad, how="left")
    return df


def _resolve_spec(spec: FeatureSpec | dict | str | Path | None) -> FeatureSpec:
    if spec is None:
        return FeatureSpec(name="default")
    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, dict):
        return FeatureSpec.model_validate(spec)
    return read_spec(spec)


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _num_array(frame: pd.DataFrame, column: str, n: int) -> np.ndarray:
    """:func:`_num` as a float64 array (no copy when the column already is float64)."""
    if column not in frame.columns:
        return np.full(n, np.nan)
    values = frame[column]
    if values.dtype == np.float64:
        return values.to_numpy()
    return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()


#: Encodings of distinct-value sets remembered per builder (single-patient scoring repeats them).
_ENCODING_CACHE_SIZE = 512


def _per_value(frame: pd.DataFrame, column: str, n: int, encode: Any,
               cache: dict[tuple, tuple[list[str], np.ndarray]] | None = None,
               tag: Any = None) -> dict[str, np.ndarray]:
    """Encode a categorical column once per distinct value, then spread to the rows.

    ``encode`` maps a Series of the distinct values (plus one missing value, last) to a
    DataFrame with one row per value; row ``codes[i]`` of that frame is patient ``i``'s encoding.
    With ``cache`` (and a ``tag`` naming the encoding), the encoded table of a set of distinct
    values is remembered: the encoding is a fixed function of the fitted state, and building
    its small DataFrames dominated scoring one patient.
    """
    if column in frame.columns:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        values = list(uniques)
    else:
        codes, values = np.full(n, -1, dtype=np.intp), []
    key = (tag, tuple((type(v), v) for v in values)) if cache is not None else None
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        distinct = pd.Series(values + [None], dtype=object)
        encoded = encode(distinct)
        hit = (list(encoded.columns), encoded.to_numpy(dtype=float).reshape(len(distinct), -1))
        if cache is not None:
            if len(cache) >= _ENCODING_CACHE_SIZE:
                cache.clear()
            cache[key] = hit
    columns, table = hit
    rows = np.where(codes < 0, len(values), codes)
    return {c: table[rows, j] for j, c in enumerate(columns)}


def _to_json_float(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Build the model's feature matrix from a one-row-per-patient frame.

    Parameters
    ----------
    spec
        A :class:`FeatureSpec`, its dict form, or a path to its YAML file.

    Attributes
    ----------
    spec_ : FeatureSpec
        The validated spec.
    cancer_levels_ : list of str
        Cancer types (OncoTree codes) one-hot encoded; rarer ones go to ``cancer_type_other``.
    cancer_has_other_ : bool
        Whether a ``cancer_type_other`` column exists.
    drug_class_levels_ : list of str
        Drug classes one-hot encoded.
    imaging_columns_ : list of str
        Radiomics columns used.
    medians_ : dict
        Training medians used for imputation (empty when ``imputation: none``). With median
        imputation, columns without any training value are dropped (as scikit-learn's
        ``SimpleImputer`` does) and logged.
    means_, scales_ : dict
        Standard-scaling statistics (empty when ``scaling: none``).
    feature_names_out_ : list of str
        Output columns, in order.
    modality_columns_ : dict
        Output columns of each modality (for missing-modality indicators).
    """

    def __init__(self, spec: FeatureSpec | dict | str | Path | None = None) -> None:
        self.spec = spec

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureBuilder:
        """Learn levels, rare-type grouping, imputation and scaling on training patients.

        Parameters
        ----------
        X
            One row per patient (see :func:`patient_frame`), canonical columns.
        y
            Ignored.

        Returns
        -------
        self
        """
        spec = _resolve_spec(self.spec)
        self.spec_ = spec
        frame = self._check_frame(X)
        if "clinical" in spec.modalities and spec.cancer_type == "onehot":
            self.cancer_levels_, self.cancer_has_other_ = clin.fit_cancer_levels(
                self._cancer(frame), spec.rare_type_min_count)
        else:
            self.cancer_levels_, self.cancer_has_other_ = [], False
        drug = frame["drug_class"] if "drug_class" in frame.columns else pd.Series(dtype=object)
        self.drug_class_levels_ = (clin.fit_levels(drug)
                                   if "clinical" in spec.modalities
                                   and "drug_class" in spec.clinical else [])
        if "imaging" in spec.modalities:
            self.imaging_columns_ = (list(spec.imaging) if spec.imaging is not None else sorted(
                c for c in frame.columns if str(c).startswith(RADIOMICS_PREFIX)))
        else:
            self.imaging_columns_ = []
        raw, modality_columns = self._raw(frame)
        self.modality_columns_ = modality_columns
        self.medians_ = {}
        if spec.imputation == "median":
            med = raw.median(skipna=True)
            empty = med.index[med.isna()].tolist()
            if empty:  # as sklearn's SimpleImputer: a column never observed cannot be imputed
                log.warning("no training values for %s: dropped from the output", empty)
                raw = raw.drop(columns=empty)
            self.medians_ = {c: float(v) for c, v in med.drop(empty).items()}
            raw = self._impute(raw)
        self.means_, self.scales_ = {}, {}
        if spec.scaling == "standard":
            mean = raw.mean(skipna=True)
            std = raw.std(ddof=0, skipna=True)
            self.means_ = {c: _to_json_float(v) for c, v in mean.items()}
            self.scales_ = {c: (float(v) if v is not None and np.isfinite(v) and v > 0 else 1.0)
                            for c, v in std.items()}
        self.feature_names_out_ = list(raw.columns) + self._indicator_names()
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    # -- transforming ------------------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Encode patients with the fitted state.

        Parameters
        ----------
        X
            One row per patient (a cohort frame or a single patient's record); canonical columns,
            absent columns count as missing.

        Returns
        -------
        DataFrame
            Columns :meth:`get_feature_names_out`, same index as ``X``, float values.
        """
        check_is_fitted(self, "feature_names_out_")
        frame = self._check_frame(X)
        raw, _ = self._raw(frame)
        indicators = self._indicators(raw)
        out = self._impute(raw)
        if self.spec_.scaling == "standard":
            for c in out.columns:
                mean = self.means_.get(c)
                if mean is not None:
                    out[c] = (out[c] - mean) / self.scales_[c]
        out = pd.concat([out, indicators], axis=1)
        return out.reindex(columns=self.feature_names_out_).astype(float)

    def transform_array(self, X: pd.DataFrame) -> np.ndarray:
        """:meth:`transform` as a float64 array, without building intermediate DataFrames.

        The fast path for batch scoring: numeric columns are read as arrays, and each
        categorical column (cancer type, sex, drug class, MSI status) is encoded once per
        *distinct* value with the same functions :meth:`transform` uses, then spread to the rows
        by its factorised codes. Equal to ``transform(X).to_numpy()`` value for value.

        Parameters
        ----------
        X
            One row per patient, canonical columns (absent columns count as missing).

        Returns
        -------
        ndarray
            Shape ``(n_patients, n_features_out_)``, columns in :meth:`get_feature_names_out`
            order.
        """
        check_is_fitted(self, "feature_names_out_")
        frame = self._check_frame(X)
        spec = self.spec_
        n = len(frame)
        cache = self._encodings()
        raw: dict[str, np.ndarray] = {}
        if "clinical" in spec.modalities:
            raw.update(self._clinical_arrays(frame, n, cache))
        if "genomic" in spec.modalities:
            for name in spec.genomic:
                if name == "msi_high":
                    raw["msi_high"] = _per_value(
                        frame, "msi_status", n,
                        lambda u: u.map({"MSI-H": 1.0, "MSS": 0.0}).astype(float)
                        .to_frame("msi_high"), cache, "msi_high")["msi_high"]
                else:
                    raw[name] = _num_array(frame, name, n)
            for gene in spec.genes:
                raw[gene_column(gene)] = _num_array(frame, gene_column(gene), n)
        if "clinical" in spec.modalities and spec.cancer_type != "none":
            raw.update(_per_value(frame, "cancer_type", n, lambda u: clin.encode_cancer_type(
                u, encoding=spec.cancer_type, levels=self.cancer_levels_,
                has_other=self.cancer_has_other_), cache, "cancer_type"))
        if "imaging" in spec.modalities:
            for c in self.imaging_columns_:
                raw[c] = _num_array(frame, c, n)
        for column, cap in spec.caps.items():
            if column in raw:
                raw[column] = np.minimum(raw[column], cap)  # NaN stays NaN, as Series.clip
        out = np.full((n, len(self.feature_names_out_)), np.nan)
        position = {c: j for j, c in enumerate(self.feature_names_out_)}
        for name in self._indicator_names():
            if name not in position:
                continue
            cols = self.modality_columns_.get(name.removeprefix("missing_"), [])
            if cols:
                absent = np.ones(n, dtype=bool)
                for c in cols:
                    absent &= np.isnan(raw[c])
                    if not absent.any():  # one value seen in every row: the rest cannot matter
                        break
                out[:, position[name]] = absent
            else:
                out[:, position[name]] = 1.0
        for c, values in raw.items():
            j = position.get(c)
            if j is None:
                continue
            median = self.medians_.get(c)
            if median is not None:
                missing = np.isnan(values)
                if missing.any():
                    values = np.where(missing, median, values)
            if spec.scaling == "standard" and self.means_.get(c) is not None:
                values = (values - self.means_[c]) / self.scales_[c]
            out[:, j] = values
        return out

    def _encodings(self) -> dict[tuple, tuple[list[str], np.ndarray]]:
        """This fitted state's cache of categorical encodings (see :func:`_per_value`)."""
        # Keyed by the state the encodings depend on, so a refit or edited state never reuses.
        state = (self.spec_.cancer_type, tuple(self.cancer_levels_), self.cancer_has_other_,
                 tuple(self.drug_class_levels_))
        cached = self.__dict__.get("_encoding_cache")
        if cached is None or cached[0] != state:
            cached = (state, {})
            self.__dict__["_encoding_cache"] = cached
        return cached[1]

    def _clinical_arrays(self, frame: pd.DataFrame, n: int,
                         cache: dict[tuple, tuple[list[str], np.ndarray]] | None = None
                         ) -> dict[str, np.ndarray]:
        """Raw clinical columns (:func:`clinical.clinical_columns`) as arrays, in spec order."""
        out: dict[str, np.ndarray] = {}
        for name in self.spec_.clinical:
            if name == "nlr":
                given = _num_array(frame, "nlr", n)
                neut, lymph = _num_array(frame, "neutrophils", n), _num_array(frame,
                                                                               "lymphocytes", n)
                with np.errstate(divide="ignore", invalid="ignore"):
                    computed = neut / np.where(lymph > 0, lymph, np.nan)
                out["nlr"] = np.where(np.isnan(given), computed, given)
            elif name in clin.NUMERIC:
                out[name] = _num_array(frame, name, n)
            elif name in ("sex", "drug_combination", "drug_class"):
                source = "sex" if name == "sex" else "drug_class"
                out.update(_per_value(frame, source, n, lambda u, name=name, source=source:
                                      clin.clinical_columns(
                                          u.to_frame(source), [name],
                                          drug_class_levels=self.drug_class_levels_),
                                      cache, ("clinical", name)))
            else:
                out[clin.BINARY[name]] = _num_array(frame, name, n)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (object array, scikit-learn convention)."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    # -- JSON state --------------------------------------------------------------------------

    _STATE = ("cancer_levels_", "cancer_has_other_", "drug_class_levels_", "imaging_columns_",
              "medians_", "means_", "scales_", "feature_names_out_", "modality_columns_")

    def to_json(self) -> str:
        """Fitted state as a JSON string (spec + learned statistics; no pickle, no patient rows)."""
        check_is_fitted(self, "feature_names_out_")
        state = {"state_version": STATE_VERSION, "spec": self.spec_.model_dump(mode="json")}
        state.update({k: getattr(self, k) for k in self._STATE})
        return json.dumps(state, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`to_json` output."""
        state = json.loads(text)
        version = state.pop("state_version", None)
        if version != STATE_VERSION:
            raise ValueError(f"feature builder state version {version!r}; expected {STATE_VERSION}")
        spec = FeatureSpec.model_validate(state.pop("spec"))
        builder = cls(spec=spec)
        builder.spec_ = spec
        for key in cls._STATE:
            setattr(builder, key, state[key])
        builder.n_features_out_ = len(builder.feature_names_out_)
        return builder

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _check_frame(X: Any) -> pd.DataFrame:
        if isinstance(X, pd.Series):
            X = X.to_frame().T
        if not isinstance(X, pd.DataFrame):
            raise TypeError("FeatureBuilder expects a DataFrame with one row per patient "
                            f"(canonical columns), got {type(X).__name__}")
        if "patient_id" in X.columns:
            X = X.set_index("patient_id")
        return X

    @staticmethod
    def _cancer(frame: pd.DataFrame) -> pd.Series:
        if "cancer_type" in frame.columns:
            return frame["cancer_type"]
        return pd.Series(None, index=frame.index, dtype=object)

    def _raw(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
        """Encoded columns before imputation and scaling (caps applied)."""
        spec = self.spec_
        parts: list[pd.DataFrame] = []
        modality: dict[str, list[str]] = {}
        if "clinical" in spec.modalities:
            c = clin.clinical_columns(frame, spec.clinical,
                                      drug_class_levels=self.drug_class_levels_)
            parts.append(c)
            modality["clinical"] = list(c.columns)
        if "genomic" in spec.modalities:
            g = self._genomic(frame)
            parts.append(g)
            modality["genomic"] = list(g.columns)
        if "clinical" in spec.modalities and spec.cancer_type != "none":
            ct = clin.encode_cancer_type(self._cancer(frame), encoding=spec.cancer_type,
                                         levels=self.cancer_levels_,
                                         has_other=self.cancer_has_other_)
            parts.append(ct)
        if "imaging" in spec.modalities:
            im = pd.DataFrame({c: _num(frame, c) for c in self.imaging_columns_},
                              index=frame.index)
            parts.append(im)
            modality["imaging"] = list(im.columns)
        raw = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)
        return clin.apply_caps(raw, spec.caps).astype(float), modality

    def _genomic(self, frame: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, pd.Series] = {}
        for name in self.spec_.genomic:
            if name == "msi_high":
                status = frame["msi_status"] if "msi_status" in frame.columns else pd.Series(
                    None, index=frame.index, dtype=object)
                out["msi_high"] = status.map({"MSI-H": 1.0, "MSS": 0.0}).astype(float)
            else:
                out[name] = _num(frame, name)
        for gene in self.spec_.genes:
            out[gene_column(gene)] = _num(frame, gene_column(gene))
        return pd.DataFrame(out, index=frame.index)

    def _impute(self, raw: pd.DataFrame) -> pd.DataFrame:
        if not self.medians_:
            return raw.copy()
        fill = {c: v for c, v in self.medians_.items() if v is not None}
        return raw.fillna(value=fill)

    def _indicator_names(self) -> list[str]:
        if not self.spec_.missing_indicators:
            return []
        return [f"missing_{m}" for m in self.spec_.modalities]

    def _indicators(self, raw: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for name in self._indicator_names():
            cols = self.modality_columns_.get(name.removeprefix("missing_"), [])
            out[name] = (raw[cols].isna().all(axis=1).astype(float) if cols
                         else pd.Series(1.0, index=raw.index))
        return pd.DataFrame(out, index=raw.index)


def missingness_summary(features: pd.DataFrame, centre: pd.Series | None = None) -> pd.DataFrame:
    """Fraction missing per feature, overall and per centre.

    Parameters
    ----------
    features
        Feature matrix (before imputation to be informative), index ``patient_id``.
    centre
        Centre per patient (same index); adds one column per centre.

    Returns
    -------
    DataFrame
        Index feature; column ``all`` and one per centre.
    """
    miss = features.isna()
    out = pd.DataFrame({"all": miss.mean()})
    if centre is not None:
        by = miss.groupby(centre.reindex(features.index).fillna("unknown")).mean().T
        out = out.join(by)
    out.index.name = "feature"
    return out
