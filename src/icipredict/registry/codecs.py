"""One export/load pair per estimator class: how a fitted model enters a bundle and comes back.

The pattern of MLflow's flavours (``mlflow/xgboost/__init__.py``): save the library's native
format, record the model class, rebuild the model at load time and let the library predict.
Every estimator class the registry accepts is registered here with its :class:`Codec`; a class
without one is refused (:class:`RegistryError`) before anything is written, never pickled.

=========================================  ==========  ==============================================
Class                                      Codec       Stored as
=========================================  ==========  ==============================================
``XGBResponse``                            xgboost     XGBoost JSON booster
``CalibratedResponse``                     calibrated  each fold's estimator (its own codec) + the
                                                       Platt/isotonic map as JSON numbers
``LorisLLR6``, ``TMBThreshold``,           skops       skops (no pickle); only scikit-learn and
``RF16Forest``, ``LogisticRegression``,                icipredict.modeling types are trusted at load
``Pipeline``
``CoxPHSurvival``                          coxph       lifelines' estimates as JSON (coefficients,
                                                       centring means, baseline cumulative hazard)
``CoxEstimates`` (federated Cox)           cox_        the same JSON layout (+ how the baseline
                                           estimates   was built)
``XGBCoxSurvival``, ``XGBAFTSurvival``     xgboost_    XGBoost JSON booster + hyperparameters and
                                           survival    fitted arrays as JSON
``GridBoostedResponse`` (federated         federated_  XGBoost JSON booster + the federation's grid
XGBoost)                                   xgboost     edges and Platt map as JSON
``VotingClassifier``                       voting      each member (its own codec) + the weights
``StackingClassifier``                     stacking    each member (its own codec) + the final
                                                       logistic regression's coefficients as JSON
``GridSearchCV``, ``RandomizedSearchCV``   search      the refitted best estimator (its own codec)
=========================================  ==========  ==============================================

Loaded models (:mod:`icipredict.registry.members`) predict through the libraries: XGBoost's
``predict``/``inplace_predict``, scikit-learn's ``predict_proba``/``decision_function``, the
estimators' own survival methods. ``WeibullAFTSurvival`` has no codec (lifelines keeps its
fitted state in pandas and formula objects that have no pickle-free format).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from icipredict.errors import RegistryError
from icipredict.registry import members


@dataclass(frozen=True)
class Codec:
    """How one estimator class is written to a bundle folder and read back.

    Attributes
    ----------
    name
        Recorded in the manifest entry (``"codec"``); chooses the loader.
    export
        ``export(model, folder) -> entry``: writes the native files, returns JSON-safe details.
    load
        ``load(folder, entry) -> member``: a loaded model of :mod:`~icipredict.registry.members`.
    """

    name: str
    export: Callable[[Any, Path], dict[str, Any]]
    load: Callable[[Path, dict[str, Any]], Any]


_BY_CLASS: dict[type, Codec] = {}
_BY_NAME: dict[str, Codec] = {}


def register_codec(classes: Iterable[type], codec: Codec) -> None:
    """Register ``codec`` for these estimator classes (exact classes, not subclasses)."""
    _BY_NAME[codec.name] = codec
    for cls in classes:
        _BY_CLASS[cls] = codec


def class_name(cls: type) -> str:
    """``module.QualName`` of a class (as recorded in the manifest)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def codec_for(model: Any) -> Codec:
    """The codec of ``model``'s class.

    Raises
    ------
    RegistryError
        The class has no codec: the model cannot be registered (it is never pickled).
    """
    codec = _BY_CLASS.get(type(model))
    if codec is None:
        known = sorted(cls.__name__ for cls in _BY_CLASS)
        raise RegistryError(
            f"{class_name(type(model))} has no registry codec, so it cannot be registered "
            f"(models are never pickled). Classes with a codec: {', '.join(known)}. A new model "
            "family needs an export/load pair in icipredict/registry/codecs.py.")
    return codec


def check_exportable(model: Any) -> None:
    """Raise :class:`RegistryError` unless ``model`` (and every model inside it) has a codec."""
    codec_for(model)
    for inner in _inner_models(model):
        check_exportable(inner)


def _inner_models(model: Any) -> list[Any]:
    """The fitted models a composite model is written as (fold models, members, best)."""
    from sklearn.ensemble import StackingClassifier, VotingClassifier
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    from icipredict.modeling.response import CalibratedResponse

    if isinstance(model, CalibratedResponse):
        return [fold.estimator for fold in model.model_.calibrated_classifiers_]
    if isinstance(model, VotingClassifier | StackingClassifier):
        return list(model.estimators_)
    if isinstance(model, GridSearchCV | RandomizedSearchCV):
        return [model.best_estimator_]
    return []


def export_model(model: Any, folder: Path) -> dict[str, Any]:
    """Write ``model`` into ``folder`` with its codec; return its manifest entry."""
    codec = codec_for(model)
    folder.mkdir(parents=True, exist_ok=True)
    entry = codec.export(model, folder)
    return {"codec": codec.name, "class": class_name(type(model)), **entry}


def load_model(folder: Path, entry: dict[str, Any]) -> Any:
    """Read a model written by :func:`export_model` (``entry`` is its manifest entry)."""
    codec = _BY_NAME.get(entry.get("codec", ""))  # no codec named "": unknown, as a missing one
    if codec is None:
        raise RegistryError(f"{folder}: unknown codec {entry.get('codec')!r} (known: "
                            f"{sorted(_BY_NAME)}); was the bundle written by another "
                            "icipredict version?", file=folder)
    return codec.load(folder, entry)


def _write_json(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state, allow_nan=False))


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float).ravel()]


# ------------------------------------------------------------------------------ XGBoost response
def _export_xgb(model: Any, folder: Path) -> dict[str, Any]:
    model.model_.get_booster().save_model(str(folder / "booster.json"))
    return {"file": "booster.json", "features": list(model.features_used_)}


def _load_xgb(folder: Path, entry: dict[str, Any]) -> members.BoosterMember:
    return members.BoosterMember(folder / entry["file"], entry["features"])


# ------------------------------------------------------------------------------ calibration
def _calibrator(fold: Any) -> dict[str, Any]:
    """One scikit-learn calibration map (Platt or isotonic) as JSON numbers."""
    cal = fold.calibrators[0]
    if fold.method == "sigmoid":
        return {"method": "sigmoid", "a": float(cal.a_), "b": float(cal.b_)}
    return {"method": "isotonic", "x": _floats(cal.X_thresholds_),
            "y": _floats(cal.y_thresholds_)}


def _export_calibrated(model: Any, folder: Path) -> dict[str, Any]:
    folds = []
    for k, fold in enumerate(model.model_.calibrated_classifiers_):
        folds.append({"model": export_model(fold.estimator, folder / f"fold_{k}"),
                      "calibrator": _calibrator(fold)})
    return {"folds": folds}


def _load_calibrated(folder: Path, entry: dict[str, Any]) -> members.CalibratedMember:
    fitted = [load_model(folder / f"fold_{k}", fold["model"])
              for k, fold in enumerate(entry["folds"])]
    return members.CalibratedMember(fitted, [fold["calibrator"] for fold in entry["folds"]])


# ------------------------------------------------------------------------------ ensembles
def _export_members(model: Any, folder: Path) -> list[dict[str, Any]]:
    return [export_model(m, folder / f"member_{k}") for k, m in enumerate(model.estimators_)]


def _load_members(folder: Path, entry: dict[str, Any]) -> list[Any]:
    return [load_model(folder / f"member_{k}", m) for k, m in enumerate(entry["members"])]


def _export_voting(model: Any, folder: Path) -> dict[str, Any]:
    if model.voting != "soft":
        raise RegistryError("only soft voting (averaged probabilities) can be registered")
    weights = None if model.weights is None else _floats(model.weights)
    return {"members": _export_members(model, folder), "weights": weights}


def _load_voting(folder: Path, entry: dict[str, Any]) -> members.VotingMember:
    return members.VotingMember(_load_members(folder, entry), entry["weights"])


def _export_stacking(model: Any, folder: Path) -> dict[str, Any]:
    final = model.final_estimator_
    if (len(model.classes_) != 2 or model.passthrough or type(final).__name__
            != "LogisticRegression" or set(model.stack_method_) != {"predict_proba"}):
        raise RegistryError("only a binary stack of predict_proba members under a logistic "
                            "regression, without passthrough, can be registered")
    return {"members": _export_members(model, folder), "coef": _floats(final.coef_),
            "intercept": float(final.intercept_[0])}


def _load_stacking(folder: Path, entry: dict[str, Any]) -> members.StackingMember:
    return members.StackingMember(_load_members(folder, entry), entry["coef"],
                                  entry["intercept"])


def _export_search(model: Any, folder: Path) -> dict[str, Any]:
    return {"best": export_model(model.best_estimator_, folder / "best"),
            "best_params": {k: (v if isinstance(v, (int, float, str, bool)) or v is None
                                else str(v)) for k, v in model.best_params_.items()}}


def _load_search(folder: Path, entry: dict[str, Any]) -> Any:
    return load_model(folder / "best", entry["best"])


# ------------------------------------------------------------------------------ scikit-learn
#: Types a skops file may construct at load: scikit-learn's, our estimators', numpy dtypes.
TRUSTED_PREFIXES = ("sklearn.", "icipredict.modeling.")
TRUSTED_EXTRA = ("numpy.dtype", "sklearn.tree._tree.Tree")


def _trusted(name: str) -> bool:
    return name.startswith(TRUSTED_PREFIXES) or name in TRUSTED_EXTRA


def _export_skops(model: Any, folder: Path) -> dict[str, Any]:
    import skops.io as sio

    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise RegistryError(f"{class_name(type(model))} was fitted without column names: fit "
                            "it on the feature DataFrame so the registry knows its inputs")
    sio.dump(model, folder / "model.skops")
    types = sorted(sio.get_untrusted_types(file=folder / "model.skops"))
    refused = [t for t in types if not _trusted(t)]
    if refused:
        raise RegistryError(f"{class_name(type(model))} holds types the registry does not load "
                            f"from a skops file: {refused}")
    return {"file": "model.skops", "skops_trusted_types": types,
            "features": [str(n) for n in names]}


def _load_skops(folder: Path, entry: dict[str, Any]) -> members.SklearnMember:
    import skops.io as sio

    # Only what the writer recorded AND the registry trusts: a bundle cannot widen the list.
    trusted = [t for t in entry["skops_trusted_types"] if _trusted(t)]
    model = sio.load(folder / entry["file"], trusted=trusted)
    return members.SklearnMember(model, entry["features"])


# ------------------------------------------------------------------------------ Cox (lifelines)
def _export_coxph(model: Any, folder: Path) -> dict[str, Any]:
    f = model.fitter_
    kept = list(model.kept_)
    bch = f.baseline_cumulative_hazard_.iloc[:, 0]
    state = {
        "features": list(model.features_used_),
        "impute": _floats(model.imputer_.statistics_),
        "kept": kept,
        "coef": [float(f.params_[c]) for c in kept],
        "mean": [float(f._norm_mean[c]) for c in kept],
        "baseline_times": _floats(bch.index),
        "baseline_cumhaz": _floats(bch.to_numpy()),
        "event_times": _floats(model.event_times_),
    }
    _write_json(folder / "coxph.json", state)
    return {"file": "coxph.json"}


def _load_coxph(folder: Path, entry: dict[str, Any]) -> members.CoxMember:
    return members.CoxMember(json.loads((folder / entry["file"]).read_text()))


def _export_cox_estimates(model: Any, folder: Path) -> dict[str, Any]:
    """``CoxEstimates`` in the ``coxph.json`` layout (read back by the same Cox member)."""
    state = {"features": list(model.features), "impute": _floats(model.impute),
             "kept": list(model.features), "coef": _floats(model.coef),
             "mean": _floats(model.mean), "baseline_times": _floats(model.baseline_times),
             "baseline_cumhaz": _floats(model.baseline_cumhaz),
             "event_times": _floats(model.baseline_times[1:]), "details": model.details}
    _write_json(folder / "coxph.json", state)
    return {"file": "coxph.json"}


# ------------------------------------------------------------------------------ XGBoost survival
def _export_xgb_survival(model: Any, folder: Path) -> dict[str, Any]:
    model.booster_.save_model(str(folder / "booster.json"))
    fitted: dict[str, Any] = {}
    for name, value in vars(model).items():
        if not name.endswith("_") or name == "booster_":
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            fitted[name] = {"array": _floats(value), "dtype": value.dtype.str}
        elif isinstance(value, np.ndarray) or isinstance(value, list):
            fitted[name] = {"strings": [str(v) for v in value]}
        elif isinstance(value, (int, float, str)):
            fitted[name] = {"value": value}
        else:
            raise RegistryError(f"{class_name(type(model))}.{name} ({type(value).__name__}) has "
                                "no JSON form")
    return {"file": "booster.json", "params": model.get_params(), "fitted": fitted}


def _load_xgb_survival(folder: Path, entry: dict[str, Any]) -> members.EstimatorSurvival:
    import xgboost as xgb

    cls = next(c for c in _BY_CLASS if class_name(c) == entry["class"])
    model = cls(**entry["params"])
    for name, value in entry["fitted"].items():
        if "array" in value:
            setattr(model, name, np.asarray(value["array"], dtype=value["dtype"]))
        elif "strings" in value:
            strings = value["strings"]
            setattr(model, name, np.asarray(strings, dtype=object) if name == "feature_names_in_"
                    else strings)
        else:
            setattr(model, name, value["value"])
    model.booster_ = xgb.Booster()
    model.booster_.load_model(str(folder / entry["file"]))
    model.booster_.set_param({"nthread": 1})
    return members.EstimatorSurvival(model, list(model.feature_names_in_))


# ------------------------------------------------------------------------------ federated XGBoost
def _export_grid_booster(model: Any, folder: Path) -> dict[str, Any]:
    """The booster in XGBoost's JSON format; grid edges and Platt map as JSON numbers."""
    model.booster_.save_model(str(folder / "booster.json"))
    platt = None if model.platt is None else {k: float(v) for k, v in model.platt.items()}
    _write_json(folder / "grid.json", {"features": list(model.features),
                                       "grid": [_floats(e) for e in model.grid],
                                       "platt": platt})
    return {"file": "booster.json", "grid": "grid.json", "features": list(model.features)}


def _load_grid_booster(folder: Path, entry: dict[str, Any]) -> Any:
    from icipredict.modeling.grid_booster import GridBoostedResponse

    state = json.loads((folder / entry["grid"]).read_text())
    model = GridBoostedResponse(features=state["features"], grid=state["grid"],
                                platt=state["platt"]).set_booster(folder / entry["file"])
    return members.GridBoosterMember(model)


def _register_builtin() -> None:
    from sklearn.ensemble import StackingClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    from icipredict.modeling.baselines import LorisLLR6, RF16Forest, TMBThreshold
    from icipredict.modeling.cox_estimates import CoxEstimates
    from icipredict.modeling.grid_booster import GridBoostedResponse
    from icipredict.modeling.response import CalibratedResponse, XGBResponse
    from icipredict.modeling.survival import CoxPHSurvival, XGBAFTSurvival, XGBCoxSurvival

    register_codec([XGBResponse], Codec("xgboost", _export_xgb, _load_xgb))
    register_codec([CalibratedResponse], Codec("calibrated", _export_calibrated,
                                               _load_calibrated))
    register_codec([LorisLLR6, TMBThreshold, RF16Forest, LogisticRegression, Pipeline],
                   Codec("skops", _export_skops, _load_skops))
    register_codec([CoxPHSurvival], Codec("coxph", _export_coxph, _load_coxph))
    register_codec([CoxEstimates], Codec("cox_estimates", _export_cox_estimates, _load_coxph))
    register_codec([XGBCoxSurvival, XGBAFTSurvival],
                   Codec("xgboost_survival", _export_xgb_survival, _load_xgb_survival))
    register_codec([GridBoostedResponse], Codec("federated_xgboost", _export_grid_booster,
                                                _load_grid_booster))
    register_codec([VotingClassifier], Codec("voting", _export_voting, _load_voting))
    register_codec([StackingClassifier], Codec("stacking", _export_stacking, _load_stacking))
    register_codec([GridSearchCV, RandomizedSearchCV],
                   Codec("search", _export_search, _load_search))


_register_builtin()
