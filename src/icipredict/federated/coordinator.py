"""The coordinator's protocol: builder state from aggregates, then exact federated fits.

Transport-free: :class:`Coordinator` talks to the centres through an ``ask`` callable (in
process in the tests; Flower messages in :mod:`.flower_apps`). Steps, one network round each:

1. ``hello`` — versions, spec, category counts (refuses mismatched nodes);
2. ``moments`` and two ``histogram`` rounds — the builder state (:mod:`.statistics`);
3. ``fit_moments`` — per model: rows, class sizes / events, column sums (standardisation,
   class weights); with an XGBoost model, one ``grid`` round (:mod:`.boosting_fit`);
4. ``step`` rounds — every fit (full model and each leave-one-centre-out fit) advances one
   Newton step, or one round of tree bagging or cyclic boosting (:mod:`.boosting`), per round
   (:func:`.newton.run_lockstep`);
5. ``export`` rounds — Platt scaling, Cox baselines and coarse ranges for the registry
   bundle (:mod:`.export`); the first also carries the evaluation: each centre's pair counts
   for the full model (apparent) and, on the centre left out, for its leave-one-centre-out
   model (a node still answers a separate ``evaluate`` request the same way).

A Newton fit's last step, once smaller than :data:`.newton.LAST_STEP`, is taken without a
round of its own; Platt scaling starts from the identity map. Each round's time is kept in the
lineage (``round_seconds``).

A centre that drops out ends the run (``on_dropout="fail"``) or, with ``on_dropout="quorum"``,
restarts it without that centre while at least ``quorum`` centres remain; the run records it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from icipredict.federated import statistics as fstats
from icipredict.federated.protocol import (  # noqa: F401 - ALL, CentreDropped re-exported
    ALL,
    DEFAULT_MIN_COUNT,
    CentreDropped,
    FederationError,
    spec_hash,
    versions,
)

Ask = Callable[[str, dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]


@dataclass
class FederatedModel:
    """One model's federated fit description (see :func:`model_plans`)."""

    name: str
    kind: str  # logistic | cox
    target: str  # response | os | pfs
    penalty: str = "none"
    C: float = 1.0
    penalizer: float = 0.0
    balanced: bool = False
    features: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)  # kind xgboost: XGBResponse's
    local_trees: int = 0  # kind xgboost: trees a centre boosts per round
    bagging: str = "flower"  # kind xgboost: flower (trees add up) | weighted (by row share)
    strategy: str = "bagging"  # kind xgboost: bagging | cyclic (see .boosting_fit)


def model_plans(model_specs: list[Any], targets: list[str]) -> list[FederatedModel]:
    """The experiment's models that have an exact federated fit (others refused by name)."""
    plans: list[FederatedModel] = []
    for spec in model_specs:
        p = spec.params
        if spec.estimator == "LorisLLR6":
            plans.append(FederatedModel("response", "logistic", "response", penalty="l1",
                                        C=float(p.get("C", 0.1)), balanced=True,
                                        features=p.get("features")))
        elif spec.estimator == "CoxPHSurvival":
            if float(p.get("l1_ratio", 0.0)) != 0.0:
                raise FederationError(f"model {spec.name}: federated Cox supports l1_ratio 0")
            for end in (t for t in targets if t in ("os", "pfs")):
                plans.append(FederatedModel(end, "cox", end,
                                            penalizer=float(p.get("penalizer", 0.0))))
        elif spec.estimator == "XGBResponse":
            plans.append(_boosting_plan(spec))
        else:
            raise FederationError(
                f"model {spec.name} ({spec.estimator}) has no federated fit: federated "
                "training supports LorisLLR6 (L1 logistic), CoxPHSurvival (stratified by "
                "centre) and XGBResponse (tree bagging or cyclic boosting)")
    return plans


def _boosting_plan(spec: Any) -> FederatedModel:
    """XGBResponse as federated boosting (:mod:`.boosting_fit`); its defaults filled in."""
    from icipredict.federated.boosting import LOCAL_TREES
    from icipredict.federated.boosting_fit import STRATEGIES
    from icipredict.modeling.response import XGBResponse

    params = {**XGBResponse().get_params(), **spec.params}
    features = params.pop("features", None)
    strategy = params.pop("federated_strategy", "bagging")
    if strategy not in STRATEGIES:
        raise FederationError(f"model {spec.name}: federated_strategy {strategy!r} is not one "
                              f"of {list(STRATEGIES)}")
    if params.get("scale_pos_weight") is None:
        params["scale_pos_weight"] = 1.0
    return FederatedModel("response_xgb", "xgboost", "response", features=features,
                          params=params, local_trees=LOCAL_TREES, strategy=strategy)


@dataclass
class Coordinator:
    """Runs the protocol over ``ask`` (see module doc)."""

    ask: Ask
    spec: Any
    models: list[FederatedModel]
    min_count: int = DEFAULT_MIN_COUNT
    on_dropout: str = "fail"
    quorum: int = 2
    rounds: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    suppressed_cells: int = 0
    round_seconds: list[tuple[str, float]] = field(default_factory=list)

    def _round(self, kind: str, requests: dict[str, dict[str, Any]]) -> dict[str, dict]:
        self.rounds += 1
        common = {"versions": versions(), "min_count": self.min_count}
        start = time.perf_counter()
        replies = self.ask(kind, {c: {**common, **r} for c, r in requests.items()})
        self.round_seconds.append((kind, round(time.perf_counter() - start, 3)))
        self.suppressed_cells += sum(int(r.get("suppressed_cells", 0)) for r in replies.values())
        return replies

    def run(self) -> dict[str, Any]:
        """The whole protocol, restarting without dropped centres when a quorum allows."""
        excluded: set[str] = set()
        while True:
            try:
                return self._run(excluded)
            except CentreDropped as drop:
                self.dropped.append({"centres": drop.centres, "round": drop.kind,
                                     "at_round": self.rounds})
                if self.on_dropout != "quorum":
                    raise FederationError(f"{drop} (on_dropout=fail: the run stops)") from drop
                excluded |= set(drop.centres)

    def _run(self, excluded: set[str]) -> dict[str, Any]:
        hellos = self._hello(excluded)
        centres = sorted(hellos)
        if len(centres) < max(self.quorum, 1):
            raise FederationError(f"{len(centres)} centre(s) left, fewer than the quorum "
                                  f"{self.quorum}")
        state = self._builder_state(hellos)
        fitted, loco, apparent, registry = self._fit_models(centres, state)
        registry["categories"] = fstats.merged_categories(hellos)
        return {"centres": {c: hellos[c]["n_patients"] for c in centres},
                "spec": self.spec.model_dump(mode="json"), "state": state,
                "models": fitted, "loco": loco, "apparent": apparent,
                "registry": registry, "federation": self.lineage(centres)}

    def lineage(self, centres: list[str]) -> dict[str, Any]:
        """What the run records about the federation."""
        return {"centres": centres, "rounds": self.rounds, "min_count": self.min_count,
                "suppressed_cells": self.suppressed_cells, "on_dropout": self.on_dropout,
                "quorum": self.quorum, "dropped": self.dropped, "versions": versions(),
                "stratified_cox": "by centre (exact; per-centre risk sets)",
                "round_seconds": [list(r) for r in self.round_seconds]}

    def _hello(self, excluded: set[str]) -> dict[str, dict[str, Any]]:
        spec = self.spec.model_dump(mode="json")
        replies = self._round("hello", {ALL: {"spec": spec, "exclude": sorted(excluded)}})
        replies = {c: r for c, r in replies.items() if c not in excluded}
        mine = versions()
        for c, r in sorted(replies.items()):
            if r["versions"] != mine:
                raise FederationError(f"centre {c} runs {r['versions']}, the coordinator "
                                      f"{mine}: refused (versions must match)")
            if r["spec_sha256"] != spec_hash(spec):
                raise FederationError(f"centre {c} computed another feature spec: refused")
        return replies

    def _builder_state(self, hellos: dict[str, dict[str, Any]]) -> dict[str, Any]:
        spec_json = self.spec.model_dump(mode="json")
        state = fstats.levels(hellos, self.spec)
        ask = {c: {"spec": spec_json, "state": state} for c in hellos}
        moments = fstats.merge_moments(self._round("moments", ask))
        edges1 = fstats.first_edges(moments)
        below1 = fstats.merged_below(self._round(
            "histogram", {c: {**r, "edges": edges1} for c, r in ask.items()}))
        edges2 = fstats.refine_edges(moments, edges1, below1)
        below2 = fstats.merged_below(self._round(
            "histogram", {c: {**r, "edges": edges2} for c, r in ask.items()}))
        meds = fstats.medians(moments, edges2, below2)
        state["raw_medians"] = meds
        if self.spec.imputation == "median":
            state["dropped"] = [c for j, c in enumerate(moments["columns"])
                                if moments["n"][j] == 0]
            state["medians"] = meds
        if self.spec.scaling == "standard":
            state["means"], state["scales"] = fstats.scaling(
                moments, meds, self.spec.imputation == "median")
        return state

    def _fit_models(self, centres: list[str], state: dict[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        from icipredict.federated.export import complete
        from icipredict.federated.fitting import FitDriver

        driver = FitDriver(self, centres, state)
        fitted, evaluation = driver.run()
        # what the registry bundle needs: Platt scaling, Cox baselines, ranges (export rounds;
        # the first also carries the evaluation of every fit)
        registry, scored = complete(driver, fitted, evaluation)
        loco, apparent = driver.scores(scored)
        return fitted, loco, apparent, registry
