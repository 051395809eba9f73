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
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from icipredict.cohort.schema import SOURCE_ROW, Cohort
from icipredict.features import registry
from icipredict.features.encoders import Derive, ModalityMissing, OneHot, Reorder
from icipredict.features.genomic import DEFAULT_GENES, gene_column, sample_genomics
from icipredict.features.row_order import representative_samples_first
from icipredict.features.spec import FeatureSpec, read_spec

log = logging.getLogger(__name__)

#: Version of the JSON state layout (bump when it changes).
STATE_VERSION = 1
RADIOMICS_PREFIX = registry.RADIOMICS_PREFIX


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[SOURCE_ROW], errors="ignore")


def patient_frame(cohort: Cohort, radiomics_wide: pd.DataFrame | None = None, *,
                  genes: Sequence[str] = DEFAULT_GENES,
                  include_outcomes: bool = False) -> pd.DataFrame:
    """One row per patient with every canonical input the builder can use.

    Joins ``patients`` + ``labs`` + ``treatments`` + sample-level genomics of the sample that
    represents the patient (:func:`.row_order.representative_samples_first`): ``tmb`` (computed from ``mutations`` where possible, else the
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
    samples = representative_samples_first(_clean(cohort.samples))
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


def _groups(spec: FeatureSpec, imaging: list[str]) -> list[tuple[str, list[str]]]:
    """Registry names per modality in output order: clinical, genomic, cancer type, imaging."""
    groups: list[tuple[str, list[str]]] = []
    if "clinical" in spec.modalities:
        groups.append(("clinical", list(spec.clinical)))
    if "genomic" in spec.modalities:
        groups.append(("genomic", list(spec.genomic) + [gene_column(g) for g in spec.genes]))
    if "clinical" in spec.modalities and spec.cancer_type != "none":
        name = "cancer_type" if spec.cancer_type == "onehot" else "cancer_group"
        groups.append(("cancer", [name]))
    if "imaging" in spec.modalities:
        groups.append(("imaging", list(imaging)))
    return groups


def _blocks(spec: FeatureSpec, imaging: list[str], cancer_min_frequency: int | None,
            exclude: frozenset[str] = frozenset()
            ) -> tuple[list[tuple[str, Any, list[str] | str]], list[tuple[str, str]]]:
    """The ColumnTransformer's blocks ``(name, transformer, columns)``: every number in one
    pass-through block (``exclude``: columns never observed in training), each one-hot feature
    encoded (its column a scalar); and the model's column order as ``(modality, block or
    column)``."""
    numbers: list[str] = []
    blocks: list[tuple[str, Any, list[str] | str]] = []
    order: list[tuple[str, str]] = []
    for modality, names in _groups(spec, imaging):
        for name in names:
            entry = registry.get(name)
            if entry.kind == "onehot":
                minimum = cancer_min_frequency if name == "cancer_type" else None
                # The column as a scalar: the ColumnTransformer passes a Series (a column
                # list would cost a DataFrame selection per call).
                blocks.append((name, OneHot(prefix=entry.output, min_frequency=minimum),
                               entry.output))
                order.append((modality, name))
            elif entry.output not in exclude:
                numbers.append(entry.output)
                order.append((modality, entry.output))
    # One block of numbers: each block costs the ColumnTransformer a copy and a call.
    return [("numbers", "passthrough", numbers), *blocks], order


def _derived_features(spec: FeatureSpec, imaging: list[str]) -> list[str]:
    return [n for _, names in _groups(spec, imaging) for n in names]


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Build the model's feature matrix from a one-row-per-patient frame.

    One scikit-learn pipeline (:attr:`pipeline_`), pandas out: :class:`Derive` (one raw
    column per feature of the registry, caps applied), a ``ColumnTransformer`` (numbers pass
    through, categories through ``OneHotEncoder`` with ``min_frequency`` grouping rare cancer
    types into ``cancer_type_other``), then ``SimpleImputer(strategy="median")`` and
    ``StandardScaler`` as the spec asks, beside the ``missing_<modality>`` indicators.

    Parameters
    ----------
    spec
        A :class:`FeatureSpec`, its dict form, or a path to its YAML file.

    Attributes
    ----------
    spec_ : FeatureSpec
        The validated spec.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted transformation.
    cancer_levels_ : list of str
        Cancer types (OncoTree codes) one-hot encoded; rarer ones go to ``cancer_type_other``.
    cancer_has_other_ : bool
        Whether a ``cancer_type_other`` column exists.
    drug_class_levels_ : list of str
        Drug classes one-hot encoded.
    imaging_columns_ : list of str
        Radiomics columns used.
    medians_ : dict
        Training medians used for imputation (empty when ``imputation: none``).
    empty_columns_ : list of str
        With median imputation, columns without any training value: dropped from the output
        (as scikit-learn's ``SimpleImputer`` does), reported once by the training run.
    means_, scales_ : dict
        Standard-scaling statistics (empty when ``scaling: none``).
    feature_names_out_ : list of str
        Output columns, in order.
    modality_columns_ : dict
        Encoded columns of each modality (for missing-modality indicators).
    """

    def __init__(self, spec: FeatureSpec | dict | str | Path | None = None) -> None:
        self.spec = spec

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
        if "imaging" in spec.modalities:
            self.imaging_columns_ = (list(spec.imaging) if spec.imaging is not None else sorted(
                c for c in frame.columns if str(c).startswith(RADIOMICS_PREFIX)))
        else:
            self.imaging_columns_ = []
        derive = self._derive()
        raw = derive.fit_transform(frame)
        encode, order = self._encode(spec.rare_type_min_count)
        encoded = encode.fit_transform(raw)
        columns = self._model_order(encode, order)
        self.modality_columns_ = self._modality_columns(columns)
        # As SimpleImputer would (it warns at every transform): a column never observed in
        # training cannot be imputed and is dropped; the training run reports it once.
        names = [str(c) for c in encode.get_feature_names_out()]
        self.empty_columns_ = ([c for c, empty in zip(names, np.isnan(encoded).all(axis=0),
                                                      strict=True) if empty]
                               if spec.imputation == "median" and len(encoded) else [])
        if self.empty_columns_:
            log.debug("no training values for %s: dropped from the output", self.empty_columns_)
            encode, _ = self._encode(spec.rare_type_min_count)
            encode.fit(raw)
        kept = [c for _, c in columns if c not in self.empty_columns_]
        union = self._union(encode, kept).fit(raw)
        self._assemble(derive, union)
        self._remember(union)
        return self

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
        check_is_fitted(self, "pipeline_")
        frame = self._check_frame(X)
        if not len(frame):  # scikit-learn refuses empty input
            return pd.DataFrame(index=frame.index, columns=self.feature_names_out_, dtype=float)
        # The steps hand numpy arrays to each other (a DataFrame between every step cost more
        # than the encoding itself for one patient); the columns are named once, here.
        values = np.asarray(self.pipeline_.transform(frame), dtype=float)
        return pd.DataFrame(values, index=frame.index, columns=self.feature_names_out_)

    def raw_values(self, X: pd.DataFrame, features: list[str] | None = None) -> pd.DataFrame:
        """Each feature's value before caps, imputation and scaling (derived, e.g. NLR from
        counts; one-hot features as their category), for reasons and completeness.
        ``features``: registry names (default: every feature of the spec)."""
        check_is_fitted(self, "pipeline_")
        if features is None:
            features = _derived_features(self.spec_, self.imaging_columns_)
        return Derive(features).fit(X).transform(self._check_frame(X))

    def completeness(self, X: pd.DataFrame | pd.Series) -> pd.DataFrame:
        """Per row and modality: the share of the features the model uses, and had values for in
        training, that were given (imputed ones count as not given). ``X``: rows, or one row
        as a Series.

        Returns
        -------
        DataFrame
            One column per modality of the spec (a modality without used features is absent).
        """
        used = self.__dict__.get("_used_inputs")
        if used is None:  # registry names per modality, from the fitted columns (once)
            kept = set(self.feature_names_out_)
            used = {m: _features_of([c for c in cols if c in kept])
                    for m, cols in self.modality_columns_.items()}
            used = {m: names for m, names in used.items() if names}
            self.__dict__["_used_inputs"] = used
        if isinstance(X, pd.Series):  # one row: only the inputs read, each with its own dtype
            inputs = {i for names in used.values() for n in names for i in registry.get(n).inputs}
            frame = pd.DataFrame({c: [X.get(c)] for c in sorted(inputs)}, index=[X.name])
        else:
            frame = self._check_frame(X)
        out = {}
        for modality, names in used.items():
            given = [~pd.isna(registry.get(n).values(frame)) for n in names]
            out[modality] = np.mean(given, axis=0)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (object array, scikit-learn convention)."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    # -- the pipeline ------------------------------------------------------------------------

    def _derive(self) -> Derive:
        return Derive(_derived_features(self.spec_, self.imaging_columns_),
                      caps=dict(self.spec_.caps))

    def _encode(self, cancer_min_frequency: int | None, exclude: Sequence[str] | None = None
                ) -> tuple[ColumnTransformer, list[tuple[str, str]]]:
        """``exclude``: numeric columns left out (default: the empty columns)."""
        if exclude is None:
            exclude = getattr(self, "empty_columns_", ())
        blocks, order = _blocks(self.spec_, self.imaging_columns_, cancer_min_frequency,
                                frozenset(exclude))
        return ColumnTransformer(blocks, verbose_feature_names_out=False), order

    def _model_order(self, encode: ColumnTransformer, order: list[tuple[str, str]]
                     ) -> list[tuple[str, str]]:
        """``(modality, column)`` of the fitted encoding's columns, in the model's order."""
        steps = dict(encode.named_transformers_)
        out = []
        for modality, name in order:
            step = steps.get(name)
            names = step.get_feature_names_out() if isinstance(step, OneHot) else [name]
            out += [(modality, str(c)) for c in names]
        return out

    def _modality_columns(self, columns: list[tuple[str, str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {m: [] for m in ("clinical", "genomic", "imaging")
                                     if m in self.spec_.modalities}
        for modality, column in columns:
            if modality != "cancer":  # not part of any modality's indicator
                out[modality].append(column)
        return out

    def _union(self, encode: ColumnTransformer, columns: list[str]) -> FeatureUnion:
        """Encoding, imputation and scaling of the values, beside the modality indicators
        (computed on the derived columns: a one-hot block is missing exactly when its
        category is)."""
        spec = self.spec_
        # Identity steps rather than "passthrough": they keep the column names.
        encoded = [str(c) for c in encode.get_feature_names_out()]
        values = Pipeline([
            ("encode", encode),
            ("order", Reorder(encoded, columns)),
            ("impute", SimpleImputer(strategy="median") if spec.imputation == "median"
             else _identity()),
            ("scale", StandardScaler() if spec.scaling == "standard" else _identity()),
        ])
        parts: list[tuple[str, Any]] = [("values", values)]
        if spec.missing_indicators:
            parts.append(("missing", ModalityMissing(
                {m: _inputs_of(self.modality_columns_.get(m, [])) for m in spec.modalities})))
        return FeatureUnion(parts, verbose_feature_names_out=False)

    def _assemble(self, derive: Derive, union: FeatureUnion) -> None:
        self.__dict__.pop("_used_inputs", None)  # completeness inputs follow the fitted state
        self.pipeline_ = Pipeline([("derive", derive), ("prepare", union)])
        values = union.transformer_list[0][1]
        self.feature_names_out_ = [str(c) for c in values.get_feature_names_out()]
        if self.spec_.missing_indicators:
            self.feature_names_out_ += list(union.transformer_list[1][1].get_feature_names_out())
        self.n_features_out_ = len(self.feature_names_out_)

    def _remember(self, union: FeatureUnion) -> None:
        """The fitted state as plain values (the JSON state)."""
        values = union.transformer_list[0][1]
        encode = values.named_steps["encode"]
        steps = dict(encode.named_transformers_)
        cancer, drug = steps.get("cancer_type"), steps.get("drug_class")
        self.cancer_levels_ = cancer.levels_ if isinstance(cancer, OneHot) else []
        self.cancer_has_other_ = bool(isinstance(cancer, OneHot) and cancer.has_other_)
        self.drug_class_levels_ = drug.levels_ if isinstance(drug, OneHot) else []
        observed = list(values.named_steps["order"].columns_out)
        imputer, scaler = values.named_steps["impute"], values.named_steps["scale"]
        self.medians_ = ({c: float(v) for c, v in zip(observed, imputer.statistics_, strict=True)}
                         if isinstance(imputer, SimpleImputer) else {})
        self.means_, self.scales_ = {}, {}
        if isinstance(scaler, StandardScaler):
            self.means_ = {c: _to_json_float(m)
                           for c, m in zip(observed, scaler.mean_, strict=True)}
            self.scales_ = {c: float(v) if np.isfinite(v) else 1.0
                            for c, v in zip(observed, scaler.scale_, strict=True)}

    # -- JSON state --------------------------------------------------------------------------

    _STATE = ("cancer_levels_", "cancer_has_other_", "drug_class_levels_", "imaging_columns_",
              "medians_", "means_", "scales_", "feature_names_out_", "modality_columns_")

    def to_json(self) -> str:
        """Fitted state as a JSON string (spec + learned statistics; no pickle, no patient rows)."""
        check_is_fitted(self, "pipeline_")
        state = {"state_version": STATE_VERSION, "spec": self.spec_.model_dump(mode="json")}
        state.update({k: getattr(self, k) for k in self._STATE})
        return json.dumps(state, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`to_json` output (the same pipeline, its steps
        set to the saved state)."""
        state = json.loads(text)
        version = state.pop("state_version", None)
        if version != STATE_VERSION:
            raise ValueError(f"feature builder state version {version!r}; expected {STATE_VERSION}")
        spec = FeatureSpec.model_validate(state.pop("spec"))
        builder = cls(spec=spec)
        builder.spec_ = spec
        for key in cls._STATE:
            setattr(builder, key, state[key])
        builder._rebuild()
        return builder

    @classmethod
    def from_statistics(
            cls, spec: FeatureSpec | dict | str | Path, *, cancer_levels: Sequence[str] = (),
            cancer_has_other: bool = False, drug_class_levels: Sequence[str] = (),
            imaging_columns: Sequence[str] = (), medians: dict[str, float] | None = None,
            means: dict[str, float | None] | None = None, scales: dict[str, float] | None = None,
            dropped: Sequence[str] = ()) -> FeatureBuilder:
        """A fitted builder from statistics learned without the rows (federated training: no
        party sees every row, so :meth:`fit` cannot run; the statistics it would learn come
        from aggregates of :meth:`encoded_values`).

        Parameters
        ----------
        spec
            The feature spec (or its dict form, or its YAML path).
        cancer_levels, cancer_has_other, drug_class_levels, imaging_columns
            As the fitted attributes of the same names (one-hot levels, whether rare cancer
            types share ``cancer_type_other``, radiomics columns used).
        medians, means, scales
            Encoded column -> imputation median / scaling mean and scale (the spec's
            ``imputation`` and ``scaling`` say which are used; ``None``: none given).
        dropped
            Columns without training values: left out of the statistics, and with median
            imputation dropped from the output as :meth:`fit` drops them.

        Returns
        -------
        FeatureBuilder
            Fitted: :meth:`transform` and :meth:`to_json` work as after :meth:`fit`.
        """
        spec = _resolve_spec(spec)
        builder = cls(spec=spec)
        builder.spec_ = spec
        builder.cancer_levels_ = list(cancer_levels)
        builder.cancer_has_other_ = bool(cancer_has_other)
        builder.drug_class_levels_ = list(drug_class_levels)
        builder.imaging_columns_ = list(imaging_columns)
        columns = builder._full_encoding()[3]
        kept = {c for _, c in columns} - set(dropped)
        builder.modality_columns_ = builder._modality_columns(columns)
        builder.medians_ = {c: float(v) for c, v in (medians or {}).items() if c in kept}
        builder.means_ = {c: v for c, v in (means or {}).items() if c in kept}
        builder.scales_ = {c: v for c, v in (scales or {}).items() if c in kept}
        builder._rebuild()
        return builder

    def encoded_values(self, X: pd.DataFrame) -> pd.DataFrame:
        """Every encoded column before imputation and scaling (caps applied), in the model's
        order, also those dropped for lack of training values: what the statistics given to
        :meth:`from_statistics` are computed on. ``X``: one row per patient (as for
        :meth:`transform`); the result has its index, float values."""
        check_is_fitted(self, "pipeline_")
        derive, _, encode, columns = self._full_encoding()
        frame = self._check_frame(X)
        encoded = np.asarray(encode.transform(derive.transform(frame)), dtype=float)
        position = {str(c): i for i, c in enumerate(encode.get_feature_names_out())}
        names = [c for _, c in columns]
        return pd.DataFrame(encoded[:, [position[c] for c in names]], index=frame.index,
                            columns=names)

    def _full_encoding(self) -> tuple[Derive, pd.DataFrame, ColumnTransformer,
                                      list[tuple[str, str]]]:
        """The derive step and the derived layout rows (:meth:`_layout`), the encode step fitted
        to them with every column kept, and the ``(modality, column)`` order of its columns."""
        derive = self._derive()
        layout = derive.fit_transform(self._layout(derive))
        encode, order = self._encode(2 if self.cancer_has_other_ else None, exclude=())
        encode.fit(layout)
        return derive, layout, encode, self._model_order(encode, order)

    def _layout(self, derive: Derive) -> pd.DataFrame:
        """Made-up derived rows holding the saved levels: fitting the encoders on them gives
        the saved columns. Rare types are known only as 'there were some': one made-up rare
        level, seen once beside each kept level seen twice, gives the same columns and rule."""
        levels = {"drug_class": list(self.drug_class_levels_),
                  "cancer_type": [*self.cancer_levels_, *self.cancer_levels_]
                  + (["\x00rare"] if self.cancer_has_other_ else [])}
        length = max(1, *(len(v) for v in levels.values()))
        return pd.DataFrame({
            n: pd.Series(levels[n] + [None] * (length - len(levels[n])), dtype=object)
            if n in levels else np.full(length, np.nan)
            for n in derive.get_feature_names_out()})

    def _rebuild(self) -> None:
        """Fit the pipeline's steps to the saved state (levels, medians, scaling)."""
        derive, layout, full, every = self._full_encoding()
        columns = [c for _, c in every]
        rare = 2 if self.cancer_has_other_ else None
        self.empty_columns_ = []
        if self.spec_.imputation == "median":
            # Only a number can lack training values (a one-hot column is 0/1 in every row);
            # a state without medians yet (the federation's first rounds) keeps the one-hots.
            numbers = dict((name, cols) for name, _, cols in full.transformers)["numbers"]
            self.empty_columns_ = [c for c in numbers if c not in self.medians_]
        encode, _ = self._encode(rare)
        encode.fit(layout)
        observed = [c for c in columns if c not in self.empty_columns_]
        union = self._union(encode, observed)
        values = union.transformer_list[0][1]
        values.named_steps["order"].fit(None)
        medians = np.array([[self.medians_.get(c, 0.0) for c in observed]])
        values.named_steps["impute"].fit(medians)  # the median of one value is that value
        scaler = values.named_steps["scale"]
        if isinstance(scaler, StandardScaler):
            mean = np.array([np.nan if self.means_.get(c) is None else self.means_[c]
                             for c in observed])
            scale = np.array([self.scales_.get(c, 1.0) for c in observed])
            scaler.n_features_in_, scaler.n_samples_seen_ = len(observed), 1
            scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale ** 2
        else:
            scaler.fit(medians)
        for _, part in union.transformer_list[1:]:
            part.fit(layout)
        self._assemble(derive, union)  # its parts are set to the state: no refit

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


def _features_of(columns: list[str]) -> list[str]:
    """The registry names behind encoded columns (``drug_class_CTLA_4`` -> ``drug_class``)."""
    return list(dict.fromkeys(registry.resolve(c)[0].name for c in columns))


def _inputs_of(columns: list[str]) -> list[str]:
    """The derived columns behind encoded columns (``sex_male`` -> ``sex_male``,
    ``drug_class_CTLA_4`` -> ``drug_class``)."""
    return list(dict.fromkeys(registry.get(n).output for n in _features_of(columns)))


def _identity() -> FunctionTransformer:
    return FunctionTransformer(feature_names_out="one-to-one")


def _to_json_float(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


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
