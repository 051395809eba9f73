"""Published baselines refit in our harness: TMB >= 10, LORIS LLR6 and the Chowell RF16 forest.

Every baseline is a scikit-learn classifier on a numeric feature DataFrame ``X`` (columns =
feature names) and a 0/1 ``responder`` target. The feature names are the canonical snake_case
names of the cohort contract (``tmb``, ``albumin``, ``nlr``, ``age``, ``prior_systemic_therapy``,
...); cancer type enters either as Chowell's 3-level code (``cancer_group``: 0 melanoma,
1 NSCLC, 2 others) or as one-hot columns ``cancer_type_<OncoTree code>``.

The two *published-file adapters* at the bottom (:func:`chowell_features`,
:func:`loris_features`) map the columns of the Chowell 2022 / LORIS supplementary CSVs to these
names. They exist for the golden reproductions and the quality benchmark only; the project's own
path is cohort -> FeatureBuilder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from icipredict.cohort.schema import CohortError

log = logging.getLogger(__name__)

#: The 16 RF16 predictors (Chowell 2022), in the column order of the published CSV.
RF16_FEATURES: tuple[str, ...] = (
    "cancer_group", "prior_systemic_therapy", "age", "sex_male", "bmi", "stage_iv", "nlr",
    "platelets", "haemoglobin", "albumin", "drug_combination", "tmb", "fcna", "hed", "hla_loh",
    "msi_high",
)

#: LORIS's 16 cancer types as OncoTree codes, in the order of its CancerType1..16 columns.
LORIS_CANCER_TYPES: tuple[str, ...] = (
    "BLCA", "BRCA", "COADREAD", "UCEC", "ESCA", "STAD", "HNSC", "HB", "MEL", "MESO", "NSCLC",
    "OV", "PAAD", "RCC", "SARC", "SCLC",
)

#: The LLR6 predictors: 5 numeric + cancer type one-hot (LORIS, Chang et al. 2024).
LLR6_FEATURES: tuple[str, ...] = (
    "tmb", "prior_systemic_therapy", "albumin", "nlr", "age",
    *(f"cancer_type_{c}" for c in LORIS_CANCER_TYPES),
)

#: LORIS caps extreme values before scaling.
LORIS_CAPS: dict[str, float] = {"tmb": 50.0, "nlr": 25.0, "age": 85.0}


def _as_frame(X: pd.DataFrame | np.ndarray, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return ``X`` as a float DataFrame (naming array columns ``x0..`` or ``columns``)."""
    if isinstance(X, pd.DataFrame):
        return X.astype(float)
    X = np.asarray(X, dtype=float)
    names = list(columns) if columns is not None else [f"x{i}" for i in range(X.shape[1])]
    return pd.DataFrame(X, columns=names)


def _validated_frame(estimator: Any, X: pd.DataFrame | np.ndarray, *,
                     reset: bool) -> pd.DataFrame:
    """``X`` as a float DataFrame after scikit-learn's input checks (fit: ``reset=True``).

    Rejects sparse, complex, 1-d and empty input and infinite values (NaN is allowed: every
    model here handles missing values by design) with scikit-learn's messages. At fit,
    records ``feature_names_in_``/``n_features_in_``; afterwards an array must have the fitted
    number of columns (a DataFrame is read by column name, as before).
    """
    frame = _as_frame(X, None if reset else getattr(estimator, "feature_names_in_", None)) \
        if isinstance(X, pd.DataFrame) else None
    values = check_array(frame.to_numpy() if frame is not None else X, dtype=np.float64,
                         ensure_all_finite="allow-nan", estimator=estimator,
                         ensure_min_samples=1 if reset else 0,
                         ensure_min_features=1 if reset else 0)
    if reset:
        if frame is None:
            frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(values.shape[1])])
        estimator.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        estimator.n_features_in_ = frame.shape[1]
        return frame
    if frame is None:
        expected = estimator.n_features_in_
        if values.shape[1] != expected:
            raise ValueError(f"X has {values.shape[1]} features, but {type(estimator).__name__} "
                             f"is expecting {expected} features as input.")
        names = getattr(estimator, "feature_names_in_", None)
        frame = pd.DataFrame(values, columns=None if names is None else list(names))
    return frame


def _binary_target(estimator: BaseEstimator, y: np.ndarray | None) -> np.ndarray:
    """``y`` as a 1-d array of two classes (the models here are binary classifiers)."""
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y "
                         "is None.")
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    y_type = type_of_target(y, input_name="y")
    if y_type != "binary":
        raise ValueError("Only binary classification is supported. The type of the target is "
                         f"{y_type}.")
    n_classes = np.unique(y).size
    if n_classes != 2:
        raise ValueError(f"{type(estimator).__name__} is a binary classifier: y must have 2 "
                         f"classes, got {n_classes} class(es).")
    return y


def _binary_tags(tags: Tags) -> Tags:
    """Tags of the binary classifiers here: missing values handled, two classes only."""
    tags.input_tags.allow_nan = True
    if tags.classifier_tags is not None:
        tags.classifier_tags.multi_class = False
    return tags


def _select(X: pd.DataFrame, features: Sequence[str] | None) -> pd.DataFrame:
    """Select ``features`` from ``X`` (all columns when None), naming the missing ones."""
    if features is None:
        return X
    missing = [f for f in features if f not in X.columns]
    if missing:
        raise CohortError(f"feature matrix lacks column(s) {missing}; expected {list(features)}")
    return X[list(features)]


def _log_tmb(tmb: np.ndarray) -> np.ndarray:
    """log(1 + TMB) as a column (a negative TMB, impossible in mut/Mb, counts as 0)."""
    return np.log1p(np.maximum(tmb, 0.0)).reshape(-1, 1)


class TMBThreshold(ClassifierMixin, BaseEstimator):
    """The FDA pan-cancer rule: predict response when TMB >= ``threshold`` mut/Mb.

    ``decision_function`` is TMB itself (so AUC is the AUC of TMB alone); ``predict_proba`` is a
    one-variable logistic recalibration of log(1 + TMB) learnt on the training data, monotone in
    TMB (same ranking), so calibration metrics can be reported for the baseline as well.

    Parameters
    ----------
    threshold
        TMB cut-off in mut/Mb.
    column
        Name of the TMB column in ``X``.
    """

    def __init__(self, threshold: float = 10.0, column: str = "tmb") -> None:
        self.threshold = threshold
        self.column = column

    def __sklearn_tags__(self) -> Tags:
        return _binary_tags(super().__sklearn_tags__())

    def _tmb(self, X: pd.DataFrame | np.ndarray, reset: bool = False) -> np.ndarray:
        X = _validated_frame(self, X, reset=reset)
        if self.column not in X.columns:
            raise CohortError(f"feature matrix lacks the TMB column {self.column!r}")
        return X[self.column].to_numpy(dtype=float)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> TMBThreshold:
        """Learn the probability scale of TMB on the training data."""
        y = _binary_target(self, y)
        tmb = self._tmb(X, reset=True)
        self.classes_ = np.unique(y)
        self.fill_ = float(np.nanmedian(tmb))
        z = _log_tmb(np.nan_to_num(tmb, nan=self.fill_))
        self.recalibration_ = LogisticRegression(C=1e6).fit(z, y)
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """TMB (mut/Mb): the score whose AUC is "TMB alone"."""
        check_is_fitted(self)
        return np.nan_to_num(self._tmb(X), nan=self.fill_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of response, monotone in TMB."""
        check_is_fitted(self)
        z = _log_tmb(self.decision_function(X))
        return self.recalibration_.predict_proba(z)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The responder class (``classes_[1]``, 1 for a 0/1 target) when TMB >= threshold."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) >= self.threshold).astype(int)]


class LorisLLR6(ClassifierMixin, BaseEstimator):
    """LORIS LLR6: L1 logistic regression on capped, standardised features (Chang et al. 2024).

    The recipe: cap TMB at 50, NLR at 25 and age at 85; standardise *every* column (the one-hot
    cancer types too, as the LORIS code does) with the training mean/SD; L1 logistic regression,
    saga, ``C = 0.1``, ``class_weight="balanced"``. Missing values (absent in the published data)
    are imputed with the training median so the model can score incomplete patients.

    Parameters
    ----------
    C
        Inverse regularisation strength.
    caps
        Upper caps per column name (columns absent from ``X`` are skipped).
    features
        Columns to use (all columns of ``X`` when None).
    max_iter, tol, random_state
        Passed to :class:`~sklearn.linear_model.LogisticRegression`.
    """

    def __init__(
        self,
        C: float = 0.1,
        caps: Mapping[str, float] | None = None,
        features: Sequence[str] | None = None,
        max_iter: int = 100_000,
        tol: float = 1e-6,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.caps = caps
        self.features = features
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        return _binary_tags(super().__sklearn_tags__())

    def _prepare(self, X: pd.DataFrame | np.ndarray, reset: bool = False) -> pd.DataFrame:
        frame = _select(_validated_frame(self, X, reset=reset), self.features)
        caps = LORIS_CAPS if self.caps is None else self.caps
        frame = frame.copy()
        for column, cap in caps.items():
            if column in frame.columns:
                frame[column] = frame[column].clip(upper=cap)
        return frame

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LorisLLR6:
        """Fit caps -> median imputation -> standard scaling -> L1 logistic regression."""
        y = _binary_target(self, y)
        Z = self._prepare(X, reset=True)
        self.features_used_ = list(Z.columns)
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(Z)
        self.scaler_ = StandardScaler().fit(self.imputer_.transform(Z))
        # l1_ratio=1 is the L1 penalty (``penalty=`` is deprecated in scikit-learn 1.8+).
        self.model_ = LogisticRegression(
            C=self.C, l1_ratio=1.0, solver="saga", class_weight="balanced",
            max_iter=self.max_iter, tol=self.tol, random_state=self.random_state,
        ).fit(self._standardise(Z), y)
        self.classes_ = self.model_.classes_
        self.coef_ = self.model_.coef_
        self.intercept_ = self.model_.intercept_
        self.n_iter_ = self.model_.n_iter_
        return self

    def _standardise(self, Z: pd.DataFrame) -> np.ndarray:
        return self.scaler_.transform(self.imputer_.transform(Z))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Linear predictor (log-odds)."""
        check_is_fitted(self)
        return self.model_.decision_function(self._standardise(self._prepare(X)))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities ``(n, 2)``."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._standardise(self._prepare(X)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class labels at probability 0.5."""
        check_is_fitted(self)
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature log-odds contributions: coefficient x standardised value (+ intercept).

        Rows sum to :meth:`decision_function`.
        """
        check_is_fitted(self)
        Z = self._standardise(self._prepare(X))
        out = pd.DataFrame(Z * self.coef_[0], columns=self.features_used_)
        out["intercept"] = self.intercept_[0]
        if isinstance(X, pd.DataFrame):
            out.index = X.index
        return out


class RF16Forest(ClassifierMixin, BaseEstimator):
    """Chowell 2022 RF16: a random forest with the published hyperparameters.

    Parameters
    ----------
    n_estimators, max_depth, min_samples_leaf, min_samples_split, max_features, random_state
        Published values by default (1000 trees, depth 8, leaf 20, split 2, seed 0).
    features
        Columns to use (all columns of ``X`` when None).
    n_jobs
        Parallel trees (keep <= 2 on shared machines).
    """

    def __init__(
        self,
        n_estimators: int = 1000,
        max_depth: int | None = 8,
        min_samples_leaf: int = 20,
        min_samples_split: int = 2,
        max_features: str | float | None = "sqrt",
        features: Sequence[str] | None = None,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.min_samples_split = min_samples_split
        self.max_features = max_features
        self.features = features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Tags:
        return _binary_tags(super().__sklearn_tags__())

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> RF16Forest:
        """Fit the forest (scikit-learn's trees route missing values natively)."""
        y = _binary_target(self, y)
        Z = _select(_validated_frame(self, X, reset=True), self.features)
        self.features_used_ = list(Z.columns)
        self.model_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, min_samples_split=self.min_samples_split,
            max_features=self.max_features, random_state=self.random_state, n_jobs=self.n_jobs,
        ).fit(Z.to_numpy(), y)
        self.classes_ = self.model_.classes_
        self.feature_importances_ = self.model_.feature_importances_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities ``(n, 2)`` (fraction of trees' leaf votes)."""
        check_is_fitted(self)
        Z = _select(_validated_frame(self, X, reset=False), self.features_used_)
        return self.model_.predict_proba(Z.to_numpy())

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class labels at probability 0.5."""
        check_is_fitted(self)
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def youden_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (choose it on training data only).

    Parameters
    ----------
    y_true
        0/1 outcomes.
    score
        Predicted scores/probabilities (higher = more likely 1).

    Returns
    -------
    float
        The ROC threshold with the largest Youden index (predict 1 when ``score >= threshold``).
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(np.asarray(y_true), np.asarray(score))
    best = int(np.argmax(tpr - fpr))
    return float(thr[best])


# --------------------------------------------------------------------------------------------
# Published-file adapters (Chowell 2022 / LORIS supplementary CSVs only)
# --------------------------------------------------------------------------------------------

#: Chowell CSV column -> canonical feature name (published-file adapter).
_CHOWELL_COLUMNS: dict[str, str] = {
    "Cancer_Type2": "cancer_group",
    "Chemo_before_IO (1:Yes; 0:No)": "prior_systemic_therapy",
    "Age": "age",
    "Sex (1:Male; 0:Female)": "sex_male",
    "BMI": "bmi",
    "Stage (1:IV; 0:I-III)": "stage_iv",
    "NLR": "nlr",
    "Platelets": "platelets",
    "HGB": "haemoglobin",
    "Albumin": "albumin",
    "Drug (1:Combo; 0:PD1/PDL1orCTLA4)": "drug_combination",
    "TMB": "tmb",
    "FCNA": "fcna",
    "HED": "hed",
    "HLA_LOH": "hla_loh",
    "MSI (1:Unstable; 0:Stable_Indeterminate)": "msi_high",
}

#: LORIS CSV column -> canonical feature name (published-file adapter).
_LORIS_COLUMNS: dict[str, str] = {
    "CancerType_grouped": "cancer_group",
    "Systemic_therapy_history": "prior_systemic_therapy",
    "Age": "age",
    "Sex": "sex_male",
    "BMI": "bmi",
    "Stage": "stage_iv",
    "NLR": "nlr",
    "Platelets": "platelets",
    "HGB": "haemoglobin",
    "Albumin": "albumin",
    "Drug": "drug_combination",
    "TMB": "tmb",
    "FCNA": "fcna",
    "HED": "hed",
    "HLA_LOH": "hla_loh",
    "MSI": "msi_high",
}

#: Cancer-type labels of the published files -> OncoTree codes.
_LABEL_TO_CODE: dict[str, str] = {
    "Bladder": "BLCA", "Breast": "BRCA", "Colorectal": "COADREAD", "Endometrial": "UCEC",
    "Esophageal": "ESCA", "Gastric": "STAD", "Head & Neck": "HNSC", "Hepatobiliary": "HB",
    "Melanoma": "MEL", "Mesothelioma": "MESO", "NSCLC": "NSCLC", "Ovarian": "OV",
    "Pancreatic": "PAAD", "Renal": "RCC", "Sarcoma": "SARC", "SCLC": "SCLC",
}


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CohortError(f"{what} file lacks column(s) {missing}")


def _cancer_one_hot(labels: pd.Series) -> pd.DataFrame:
    codes = labels.map(_LABEL_TO_CODE)
    unknown = sorted(set(labels[codes.isna()].astype(str)))
    if unknown:
        raise CohortError(f"unknown cancer type label(s) {unknown}; expected {list(_LABEL_TO_CODE)}")
    return pd.DataFrame(
        {f"cancer_type_{c}": (codes == c).astype(float) for c in LORIS_CANCER_TYPES},
        index=labels.index,
    )


def chowell_features(df: pd.DataFrame) -> pd.DataFrame:
    """Published-file adapter: features of a Chowell 2022 or LORIS supplementary CSV.

    Accepts either file layout (``chowell2022_*.csv`` or ``loris_year_split_*.csv``) and returns
    the 16 RF16 features (:data:`RF16_FEATURES`, ``cancer_group`` = 0 melanoma / 1 NSCLC /
    2 others), ``msi_score`` when present, and the 16 LORIS cancer-type one-hot columns.

    Parameters
    ----------
    df
        The CSV as read by :func:`pandas.read_csv`.

    Returns
    -------
    pandas.DataFrame
        Numeric features, same index as ``df``.
    """
    if "Cancer_Type2" in df.columns:
        _require(df, list(_CHOWELL_COLUMNS) + ["Cancer_type_grouped_2"], "Chowell")
        out = df[list(_CHOWELL_COLUMNS)].rename(columns=_CHOWELL_COLUMNS).astype(float)
        labels = df["Cancer_type_grouped_2"]
        if "MSI_SCORE" in df.columns:
            out["msi_score"] = df["MSI_SCORE"].astype(float)
    else:
        _require(df, list(_LORIS_COLUMNS) + ["CancerType"], "LORIS")
        out = df[list(_LORIS_COLUMNS)].rename(columns=_LORIS_COLUMNS).astype(float)
        out = out[list(RF16_FEATURES)]
        labels = df["CancerType"]
        # LORIS codes Drug 0/1/2 (2 = CTLA-4 alone per the file); RF16 only knows combo vs not.
        out["drug_combination"] = (out["drug_combination"] == 1).astype(float)
    return pd.concat([out, _cancer_one_hot(labels)], axis=1)


def loris_features(df: pd.DataFrame) -> pd.DataFrame:
    """Published-file adapter: the LLR6 features (:data:`LLR6_FEATURES`) of either CSV layout.

    Parameters
    ----------
    df
        A Chowell 2022 or LORIS supplementary CSV as read by :func:`pandas.read_csv`.

    Returns
    -------
    pandas.DataFrame
        Columns ``tmb, prior_systemic_therapy, albumin, nlr, age, cancer_type_<code> x16``
        (uncapped: :class:`LorisLLR6` caps).
    """
    return chowell_features(df)[list(LLR6_FEATURES)]


def response_target(df: pd.DataFrame) -> np.ndarray:
    """Published-file adapter: the 0/1 responder column of either CSV layout."""
    for column in ("Response (1:Responder; 0:Non-responder)", "Response"):
        if column in df.columns:
            return df[column].to_numpy(dtype=int)
    raise CohortError("file lacks a Response column")
