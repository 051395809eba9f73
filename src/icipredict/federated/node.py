"""A centre's side: its own rows from its own store in, aggregates out (never rows).

:func:`handle` answers one request of the coordinator (:mod:`.coordinator`). The design
matrices of a builder state are cached in the node's private cache folder so that each Newton
round (a fresh process under Flower) only loads arrays.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from icipredict.federated import local
from icipredict.federated.protocol import FederationError, spec_hash, suppress, versions

log = logging.getLogger(__name__)
TARGETS = ("response", "os", "pfs")


@dataclass
class NodeData:
    """One centre's data, read lazily from its own store.

    Parameters
    ----------
    store
        The centre's DuckDB cohort store.
    centre
        Its centre name (only its rows are read).
    cache_dir
        Private folder for design matrices between rounds (never sent anywhere).
    min_count
        Small-cell threshold this centre applies to what it shares.
    accepted_spec
        SHA-256 of the only feature spec this centre agreed to compute (None = any).
    """

    store: Path
    centre: str
    cache_dir: Path
    min_count: int = 5
    accepted_spec: str | None = None
    radiomics_cache: Path | None = None
    _frames: dict[tuple, Any] = field(default_factory=dict, repr=False)

    def frame(self, spec: Any) -> Any:
        """The centre's patient frame (inputs + outcomes), index ``patient_id``; radiomics
        columns only when ``spec`` has the imaging modality."""
        imaging = "imaging" in spec.modalities
        key = (imaging, tuple(spec.genes or ()))
        if key not in self._frames:
            self._frames[key] = self._cached_frame(spec, imaging)
        return self._frames[key]

    def _cached_frame(self, spec: Any, imaging: bool) -> Any:
        """The frame from this node's private cache (each Flower round is a new process),
        rebuilt when the store file changed."""
        import pandas as pd

        key = _key([self.stamp(), imaging, list(spec.genes or []), "stable-order"])
        path = self.cache_dir / f"frame-{key}.parquet"
        if path.exists():
            return pd.read_parquet(path)
        frame = self._read_frame(spec, imaging)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp)
        tmp.replace(path)
        return frame

    def stamp(self) -> list[Any]:
        """What the cached frame and arrays derive from: the store file (path, modification
        time, size) and the centre; any change makes every cache entry stale."""
        st = self.store.stat()
        return [str(self.store.resolve()), st.st_mtime_ns, st.st_size, self.centre]

    def _read_frame(self, spec: Any, imaging: bool) -> Any:
        from icipredict.cohort.store import CohortStore
        from icipredict.features.builder import patient_frame
        from icipredict.features.row_order import stable_patient_order
        from icipredict.features.spec import FeatureSpec
        from icipredict.training.data import cohort_radiomics

        store = CohortStore(self.store)
        if self.centre not in store.centres():
            raise FederationError(f"centre {self.centre!r} has no data in {self.store}")
        cohort = store.cohort([self.centre])
        every = FeatureSpec(name="node", modalities=["clinical", "genomic", "imaging"])
        cache = self.radiomics_cache or self.cache_dir / "radiomics"
        rad = cohort_radiomics(cohort, every, cache, False) if imaging else None
        # In an order that does not depend on the pseudonym key: XGBoost's row subsample
        # draws by position, so a node's trees would otherwise change with the key.
        frame = patient_frame(cohort, rad, genes=spec.genes or (), include_outcomes=True)
        return stable_patient_order(frame)


def _key(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _cached_arrays(node: NodeData, name: str, req: dict[str, Any],
                   build: Any) -> dict[str, np.ndarray]:
    """``build()``'s arrays, cached in the node's private folder under the store's stamp,
    the spec and the builder state of ``req``: a fresh ClientApp process (one per message
    under Flower) then loads them with numpy alone, without pandas, scikit-learn or the
    store."""
    path = node.cache_dir / f"{name}-{_key([node.stamp(), req['spec'], req['state']])}.npz"
    if path.exists():
        with np.load(path) as z:
            return dict(z)
    arrays = build()
    node.cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return arrays


def _spec(payload: dict[str, Any]) -> Any:
    from icipredict.features.spec import FeatureSpec

    return FeatureSpec.model_validate(payload["spec"])


def _builder(payload: dict[str, Any]) -> Any:
    from icipredict.federated.builder_state import builder_from_state

    return builder_from_state(_spec(payload), payload["state"])


def _hello(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    asked = spec_hash(req["spec"])
    if node.accepted_spec is not None and asked != node.accepted_spec:
        raise FederationError(
            f"centre {node.centre} refuses feature spec {asked[:12]}: it accepts only "
            f"{node.accepted_spec[:12]} (its --accept-spec)")
    from icipredict.features.clinical import normalise_cancer_type

    frame = node.frame(_spec(req))
    n = len(frame)
    if n < node.min_count:
        raise FederationError(f"centre {node.centre} has {n} patients, fewer than the "
                              f"minimum count {node.min_count}: it does not take part")
    cats: dict[str, dict[str, float]] = {}
    suppressed = 0
    for name, values in (("cancer_type", normalise_cancer_type(frame.get("cancer_type"))),
                         ("drug_class", frame.get("drug_class"))):
        if values is None:
            cats[name] = {}
            continue
        counts = values.dropna().astype(str).value_counts()
        kept, k = suppress(counts.to_numpy(), node.min_count)
        suppressed += k
        cats[name] = {lvl: c for lvl, c in zip(counts.index, kept, strict=True) if c > 0}
    radiomics = sorted(c for c in frame.columns if str(c).startswith("radiomics_")
                       and frame[c].notna().sum() >= node.min_count)
    return {"centre": node.centre, "versions": versions(), "spec_sha256": asked,
            "n_patients": n, "categories": cats, "radiomics_columns": radiomics,
            "suppressed_cells": suppressed}


def _raw(node: NodeData, req: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """The encoded columns before imputation and scaling under ``req``'s builder state (the
    ``moments`` round and both ``histogram`` rounds share one state: built once, cached)."""
    def build() -> dict[str, np.ndarray]:
        from icipredict.federated.builder_state import raw_columns

        columns, X = raw_columns(_builder(req), node.frame(_spec(req)))
        return {"columns": np.asarray(columns, dtype=str), "X": X}

    arrays = _cached_arrays(node, "raw", req, build)
    return [str(c) for c in arrays["columns"]], arrays["X"]


def _moments(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    columns, X = _raw(node, req)
    m = local.moments(X)
    small = m["n"] < node.min_count  # a column seen in few patients shares nothing
    return {"columns": columns, "n_rows": len(X),
            "n": np.where(small, 0.0, m["n"]), "sum": np.where(small, 0.0, m["sum"]),
            "sumsq": np.where(small, 0.0, m["sumsq"]), "suppressed_cells": int(small.sum())}


def _histogram(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    columns, X = _raw(node, req)
    wanted = list(req["edges"])
    X = X[:, [columns.index(c) for c in wanted]]
    counts = local.cumulative_counts(X, [req["edges"][c] for c in wanted], node.min_count)
    return {"columns": wanted, "below": counts}


def _design(node: NodeData, req: dict[str, Any]) -> dict[str, np.ndarray]:
    """The cached design of this builder state: X (builder output) and every target."""
    def build() -> dict[str, np.ndarray]:
        import pandas as pd

        frame = node.frame(_spec(req))
        arrays = {"X": _builder(req).transform(frame).to_numpy(dtype=float)}
        arrays["response"] = pd.to_numeric(frame.get("responder"),
                                           errors="coerce").to_numpy(float)
        for end in ("os", "pfs"):
            arrays[f"{end}_time"] = pd.to_numeric(frame.get(f"{end}_months"),
                                                  errors="coerce").to_numpy(float)
            arrays[f"{end}_event"] = pd.to_numeric(frame.get(f"{end}_event"),
                                                   errors="coerce").to_numpy(float)
        return arrays

    return _cached_arrays(node, "design", req, build)


def design_rows(design: dict[str, np.ndarray], fit: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A fit's design: selected columns, imputed and standardised; its target; rows kept."""
    X = design["X"][:, fit["columns"]]
    if fit["fill"] is not None:  # boosted trees route missing values themselves (fill None)
        X = np.where(np.isnan(X), np.asarray(fit["fill"], float), X)
    if fit["target"] == "response":
        y = design["response"]
        ok = ~np.isnan(y)
        return X[ok], y[ok], None
    t, e = design[f"{fit['target']}_time"], design[f"{fit['target']}_event"]
    ok = ~(np.isnan(t) | np.isnan(e))
    return X[ok], t[ok], e[ok]


def _fit_moments(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    design = _design(node, req)
    out: dict[str, dict[str, Any]] = {}
    for name, fit in req["fits"].items():
        X, y, e = design_rows(design, fit)
        m = local.moments(X)
        positives = float(np.sum(y)) if e is None else float(np.sum(e))
        # class sizes / event counts under the threshold, or fewer rows than the model has
        # parameters (its Hessian would say too much about its rows): the centre sits it out
        small = min(positives, len(y) - positives) < node.min_count if e is None else \
            positives < node.min_count
        if fit.get("kind") != "xgboost":  # trees send no Hessian (their leaves hold min_count rows)
            small = small or len(y) <= X.shape[1] + 1
        out[name] = ({"skipped": "small"} if small else
                     {"n": len(y), "positives": positives, "sum": m["sum"], "sumsq": m["sumsq"]})
        if fit.get("kind") == "xgboost" and not small:  # observed values per column (NaN = missing)
            few = m["n"] < node.min_count
            out[name] |= {"observed": np.where(few, 0.0, m["n"]),
                          "sum": np.where(few, 0.0, m["sum"]),
                          "sumsq": np.where(few, 0.0, m["sumsq"])}
    return {"fits": out}


def _grid(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    """Counts below candidate edges of a boosted model's columns (tails suppressed)."""
    design = _design(node, req)
    out = {}
    for name, fit in req["fits"].items():
        X, _, _ = design_rows(design, fit)
        out[name] = {"below": local.cumulative_counts(X, fit["candidates"], node.min_count)}
    return {"fits": out}


def _standardised(X: np.ndarray, fit: dict[str, Any]) -> np.ndarray:
    return (X - np.asarray(fit["mean"])) / np.asarray(fit["scale"])


def _step(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    design = _design(node, req)
    out: dict[str, dict[str, Any]] = {}
    for name, fit in req["fits"].items():
        X, y, e = design_rows(design, fit)
        if fit["kind"] == "xgboost":
            from icipredict.federated.boosting import boost_local

            out[name] = {"trees": boost_local(X, y, fit, node.centre, node.min_count)}
            continue
        Z = _standardised(X, fit)
        beta = np.asarray(fit["beta"], float)
        if fit["kind"] == "logistic":
            w = np.where(y == 1, fit["weights"][1], fit["weights"][0])
            obj, g, H = local.logistic_sums(Z, y, beta, w)
        else:
            assert e is not None  # a Cox fit's target is a survival one: design_rows gave events
            obj, g, H = local.cox_efron_sums(Z, y, e, beta)
        out[name] = {"objective": obj, "gradient": g, "hessian": H}
    return {"fits": out}


def _evaluate(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    return _pair_counts(_design(node, req), req["fits"], node.min_count)


def _pair_counts(design: dict[str, np.ndarray], fits: dict[str, Any], min_count: int
                 ) -> dict[str, Any]:
    """Each fit's concordant-pair counts on this centre's rows of ``design``."""
    from icipredict.federated.evaluation import local_counts

    out = {}
    for name, fit in fits.items():
        X, y, e = design_rows(design, fit)
        if fit["kind"] == "xgboost":
            from icipredict.federated.boosting import margin

            out[name] = local_counts("logistic", margin(fit["model"], X, fit["grid"]), y, e,
                                     min_count)
            continue
        score = _standardised(X, fit) @ np.asarray(fit["beta"][-X.shape[1]:], float)
        out[name] = local_counts(fit["kind"], score, y, e, min_count)
    return {"fits": out}


def _export(node: NodeData, req: dict[str, Any]) -> dict[str, Any]:
    from icipredict.federated.node_export import answer

    design = _design(node, req)  # one load of the cached arrays serves both answers
    out = answer(design, req, node.min_count)
    if req.get("fits"):  # the first export round also evaluates the converged fits
        out["fits"] = _pair_counts(design, req["fits"], node.min_count)["fits"]
    return out


HANDLERS = {"hello": _hello, "moments": _moments, "histogram": _histogram,
            "fit_moments": _fit_moments, "grid": _grid, "step": _step, "evaluate": _evaluate,
            "export": _export}


def handle(node: NodeData, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """Answer one coordinator request with aggregates of this centre's rows.

    Raises
    ------
    FederationError
        When the centre refuses (spec not accepted, too few patients, unknown request).
    """
    if kind not in HANDLERS:
        raise FederationError(f"centre {node.centre}: unknown request {kind!r}")
    if kind != "hello" and request.get("versions") != versions():
        raise FederationError(f"centre {node.centre} runs {versions()}, the coordinator "
                              f"{request.get('versions')}: versions must match")
    return HANDLERS[kind](node, request)
