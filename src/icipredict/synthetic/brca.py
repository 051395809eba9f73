"""BRCA1/2 registry cases of known truth: designed carriers, a discrete CNA file, the truth table.

The latent BRCA1/2 drivers of :mod:`~icipredict.synthetic.patients` give the network carriers,
but not one of each class the registry tells apart. :func:`add_brca_cases` adds, in the harbour
centre (the cBioPortal study, the one format with a discrete CNA file), patients of each class
(:data:`CASES`): a benign polymorphism (BRCA2 p.K3326*), a VUS missense, a pathogenic
monoallelic variant, pathogenic biallelic ones (second hit by a deep deletion, by a shallow
loss, by a second pathogenic variant) and germline rows (``Mutation_Status = Germline``, one
with a somatic loss of the other allele).

Everything here draws from its own stream (``SeedSequence(seed, spawn_key=(BRCA_STREAM,))``):
the other draws of the network do not move. A designed somatic variant takes the place of one of
the patient's passenger variants, so the nonsynonymous count, and TMB, stay what the generative
model drew; germline rows never count. Designed patients are sequenced harbour patients without
a latent BRCA1/2 driver and with enough passengers; a small network gets fewer cases (the truth
table says which were placed).

The truth (``brca_truth.parquet``, one row per registry row the network implies: every
protein-altering somatic or germline BRCA1/2 MAF row and every BRCA1/2 deep deletion) gives
the class, rule, origin, germline follow-up, second hit and allelic status that the registry's
documented rules (knowledge base 2025.1, ``docs/brca_registry.md``) must assign. For the
latent drivers' hotspots the class is :data:`HOTSPOT_CLASS`; their origin is tumour-only (no
``Mutation_Status``) and their second hit follows the harbour CNA file (``unknown`` elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from icipredict.synthetic.genes import NONSYNONYMOUS
from icipredict.synthetic.mutations import fill_maf_fields

#: Spawn key of this module's random stream (issue 16: an independent stream).
BRCA_STREAM = 16
#: Genes of the CNA file (the HR genes that the synthetic panels carry) and their Entrez IDs.
CNA_GENES = {"BRCA1": 672, "BRCA2": 675, "ATM": 472}
#: Background GISTIC calls of the harbour samples: values and probabilities per gene. BRCA1/2
#: never get a background deep deletion (each one is a designed case).
CNA_BACKGROUND = {"BRCA1": ((-1, 0, 1), (.06, .91, .03)),
                  "BRCA2": ((-1, 0, 1), (.06, .91, .03)),
                  "ATM": ((-2, -1, 0, 1), (.02, .08, .86, .04))}
#: Designed patients per case (fewer when the network is small).
PER_CASE = 2

#: Class and rule of the latent drivers' hotspots (genes.HOTSPOTS) under the knowledge base:
#: S1655F and R3052W are not among its curated variants, so they are VUS by its default rule.
HOTSPOT_CLASS = {
    ("BRCA1", "p.E23Vfs*17"): ("pathogenic", "truncating"),
    ("BRCA1", "p.Q1756Pfs*74"): ("pathogenic", "truncating"),
    ("BRCA1", "p.R1443*"): ("pathogenic", "truncating"),
    ("BRCA1", "p.C61G"): ("pathogenic", "curated"),
    ("BRCA1", "p.M1775R"): ("pathogenic", "curated"),
    ("BRCA1", "p.S1655F"): ("vus", "vus_default"),
    ("BRCA2", "p.S1982Rfs*22"): ("pathogenic", "truncating"),
    ("BRCA2", "p.E1953*"): ("pathogenic", "truncating"),
    ("BRCA2", "p.K3326*"): ("benign", "curated"),
    ("BRCA2", "p.N1784Kfs*3"): ("pathogenic", "truncating"),
    ("BRCA2", "p.D2723H"): ("pathogenic", "curated"),
    ("BRCA2", "p.R3052W"): ("vus", "vus_default"),
}


@dataclass(frozen=True)
class Variant:
    """A designed variant and the class the registry must give it."""

    gene: str
    hgvsp: str
    vc: str
    status: str            # MAF Mutation_Status: "", "Somatic" or "Germline"
    classification: str
    rule: str


@dataclass(frozen=True, eq=False)  # hashed by identity: a dict key
class Case:
    """A designed registry case: its variants, its BRCA1/2 CNA calls and its second hit."""

    name: str
    variants: tuple[Variant, ...]
    cna: dict[str, int] = field(default_factory=dict)
    second_hit: str | None = None
    allelic_status: str | None = None


_P = "pathogenic"
CASES: tuple[Case, ...] = (
    Case("benign_polymorphism",
         (Variant("BRCA2", "p.K3326*", "Nonsense_Mutation", "", "benign", "curated"),)),
    Case("vus_missense",
         (Variant("BRCA1", "p.T1256I", "Missense_Mutation", "Somatic", "vus", "vus_default"),)),
    Case("pathogenic_monoallelic",
         (Variant("BRCA1", "p.S1253Rfs*10", "Frame_Shift_Del", "Somatic", _P, "truncating"),),
         {"BRCA1": 0}, "none_seen", "monoallelic"),
    Case("biallelic_deep_deletion", (), {"BRCA2": -2}, "cna_deep_deletion", "biallelic"),
    Case("biallelic_cna_loss",
         (Variant("BRCA2", "p.R3128*", "Nonsense_Mutation", "", _P, "truncating"),),
         {"BRCA2": -1}, "cna_loss", "biallelic"),
    Case("biallelic_second_variant",
         (Variant("BRCA1", "p.R1751*", "Nonsense_Mutation", "Somatic", _P, "truncating"),
          Variant("BRCA1", "p.E1250*", "Nonsense_Mutation", "Somatic", _P, "truncating")),
         {"BRCA1": 0}, "second_variant", "biallelic"),
    Case("germline_pathogenic",
         (Variant("BRCA2", "p.S1982Rfs*22", "Frame_Shift_Del", "Germline", _P, "truncating"),),
         {"BRCA2": 0}, "none_seen", "monoallelic"),
    Case("germline_with_somatic_loss",
         (Variant("BRCA1", "p.E1346Kfs*20", "Frame_Shift_Del", "Germline", _P, "truncating"),),
         {"BRCA1": -1}, "cna_loss", "biallelic"),
)

#: Columns of ``brca_truth.parquet``.
BRCA_TRUTH_COLUMNS = ["centre", "source_patient_id", "source_sample_id", "case", "gene",
                      "hgvsp_short", "variant_classification", "mutation_status",
                      "classification", "rule", "origin", "germline_follow_up", "second_hit",
                      "allelic_status"]


@dataclass
class BrcaCases:
    """What :func:`add_brca_cases` made: the MAF with the designed rows, the CNA, the truth."""

    maf: pd.DataFrame
    cna: pd.DataFrame          # wide cBioPortal DISCRETE layout for harbour
    truth: pd.DataFrame        # BRCA_TRUTH_COLUMNS


def brca_rng(seed: int) -> np.random.Generator:
    """This module's independent random stream for ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(BRCA_STREAM,)))


def add_brca_cases(truth: pd.DataFrame, maf: pd.DataFrame, seed: int) -> BrcaCases:
    """Place the designed cases, draw harbour's CNA calls and write down the registry's truth.

    Parameters
    ----------
    truth
        The patients (``simulate_mutations`` has run); ``brca_case``, ``mut_BRCA1/2`` are
        updated in place.
    maf
        The MAF rows of :func:`~icipredict.synthetic.mutations.simulate_mutations`.
    seed
        The network's seed (this function uses its own stream of it).

    Returns
    -------
    BrcaCases
        The MAF (with a ``Mutation_Status`` column), harbour's CNA table and the truth.
    """
    rng = brca_rng(seed)
    harbour = np.flatnonzero((truth["centre"] == "harbour").to_numpy()
                             & truth["sequenced"].to_numpy())
    picked = _pick_patients(truth, maf, harbour, rng)
    truth["brca_case"] = None
    new_rows, drop = [], []
    for case, rows in picked.items():
        for r in rows:
            truth.at[r, "brca_case"] = case.name
            somatic = [v for v in case.variants if v.status != "Germline"]
            passengers = maf.index[(maf["row"] == r) & ~maf["driver"].astype(bool)
                                   & maf["Variant_Classification"].isin(NONSYNONYMOUS)]
            drop.extend(passengers[:len(somatic)])
            for v in case.variants:
                new_rows.append({"row": r, "Hugo_Symbol": v.gene, "HGVSp_Short": v.hgvsp,
                                 "Variant_Classification": v.vc, "driver": True,
                                 "Mutation_Status": v.status})
                if v.status != "Germline":
                    truth.at[r, f"mut_{v.gene}"] = 1.0
    maf = maf.drop(index=drop).assign(Mutation_Status="")
    if new_rows:
        extra = pd.DataFrame(new_rows)
        fill_maf_fields(extra, truth, rng)
        germ = extra["Mutation_Status"] == "Germline"
        # a heterozygous germline variant: about half the reads in tumour and normal
        extra.loc[germ, "t_alt_count"] = (extra.loc[germ, "t_depth"] // 2).astype(int)
        extra.loc[germ, "t_ref_count"] = extra.loc[germ, "t_depth"] - extra.loc[germ,
                                                                                "t_alt_count"]
        maf = pd.concat([maf, extra], ignore_index=True)
    calls = _cna_calls(truth, harbour, picked, rng)
    return BrcaCases(maf.reset_index(drop=True), _cna_wide(truth, harbour, calls),
                     _truth_table(truth, maf, picked, calls))


def _pick_patients(truth: pd.DataFrame, maf: pd.DataFrame, harbour: np.ndarray,
                   rng: np.random.Generator) -> dict[Case, list[int]]:
    """Rows of the designed patients per case (drawn in random order, PER_CASE each)."""
    no_driver = ~(truth["drv_BRCA1"].to_numpy() | truth["drv_BRCA2"].to_numpy())
    passengers = maf.loc[~maf["driver"].astype(bool)
                         & maf["Variant_Classification"].isin(NONSYNONYMOUS), "row"]
    n_pass = np.bincount(passengers.to_numpy(), minlength=len(truth))
    eligible = harbour[no_driver[harbour] & (n_pass[harbour] >= 2)]
    order = rng.permutation(eligible)
    return {case: [int(r) for r in order[i::len(CASES)][:PER_CASE]]
            for i, case in enumerate(CASES)}


def _cna_calls(truth: pd.DataFrame, harbour: np.ndarray, picked: dict[Case, list[int]],
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Gene -> GISTIC call per harbour sample (background draws, the designed calls on top)."""
    calls = {g: rng.choice(np.array(vals), size=harbour.size, p=np.array(p))
             for g, (vals, p) in CNA_BACKGROUND.items()}
    pos = {r: i for i, r in enumerate(harbour)}
    for case, rows in picked.items():
        for r in rows:
            for gene in ("BRCA1", "BRCA2"):
                calls[gene][pos[r]] = case.cna.get(gene, 0)
    return calls


def _cna_wide(truth: pd.DataFrame, harbour: np.ndarray,
              calls: dict[str, np.ndarray]) -> pd.DataFrame:
    """cBioPortal's DISCRETE layout: Hugo_Symbol, Entrez_Gene_Id, one column per sample."""
    samples = truth["source_sample_id"].to_numpy()[harbour]
    data = {"Hugo_Symbol": list(CNA_GENES), "Entrez_Gene_Id": list(CNA_GENES.values())}
    for i, s in enumerate(samples):
        data[s] = [int(calls[g][i]) for g in CNA_GENES]
    return pd.DataFrame(data)


def _truth_table(truth: pd.DataFrame, maf: pd.DataFrame, picked: dict[Case, list[int]],
                 calls: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per registry row the network implies, with the registry's expected answer."""
    harbour = np.flatnonzero((truth["centre"] == "harbour").to_numpy()
                             & truth["sequenced"].to_numpy())
    copy = {(int(r), g): int(calls[g][i]) for g in ("BRCA1", "BRCA2")
            for i, r in enumerate(harbour)}
    case_of = {r: case for case, rows in picked.items() for r in rows}
    brca = maf[maf["Hugo_Symbol"].isin(["BRCA1", "BRCA2"])
               & maf["Variant_Classification"].isin(NONSYNONYMOUS)]
    out = []
    for m in brca.itertuples():
        case = case_of.get(int(m.row))
        status = m.Mutation_Status
        if case is not None:
            v = next(v for v in case.variants if v.gene == m.Hugo_Symbol
                     and v.hgvsp == m.HGVSp_Short)
            cls, rule = v.classification, v.rule
        else:
            cls, rule = HOTSPOT_CLASS[(m.Hugo_Symbol, m.HGVSp_Short)]
        plp = cls in ("pathogenic", "likely_pathogenic")
        if case is not None:
            hit, allelic = (case.second_hit, case.allelic_status) if plp else (None, None)
        else:
            hit, allelic = _driver_second_hit(plp, copy.get((int(m.row), m.Hugo_Symbol)))
        origin = {"Germline": "germline", "Somatic": "somatic"}.get(status,
                                                                    "somatic_unconfirmed")
        out.append(_truth_row(truth, int(m.row), case, m.Hugo_Symbol, m.HGVSp_Short,
                              m.Variant_Classification, status, cls, rule, origin,
                              origin == "somatic_unconfirmed" and plp, hit, allelic))
    for case, rows in picked.items():
        for gene, value in case.cna.items():
            if value <= -2:
                out.extend(_truth_row(truth, r, case, gene, None, "CNA_Deep_Deletion", "",
                                      _P, "cna_deep_deletion", "somatic", False,
                                      "cna_deep_deletion", "biallelic") for r in rows)
    return pd.DataFrame(out, columns=BRCA_TRUTH_COLUMNS)


def _driver_second_hit(plp: bool, copy: int | None) -> tuple[str | None, str | None]:
    """Second hit of a latent driver's row from its sample's CNA call (None: no CNA file)."""
    if not plp:
        return None, None
    if copy is None:
        return "unknown", "unknown"
    if copy <= -1:
        return ("cna_deep_deletion" if copy <= -2 else "cna_loss"), "biallelic"
    return "none_seen", "monoallelic"


def _truth_row(truth: pd.DataFrame, r: int, case: Case | None, gene: str, hgvsp: str | None,
               vc: str, status: str, cls: str, rule: str, origin: str, follow_up: bool,
               hit: str | None, allelic: str | None) -> dict:
    return {"centre": truth.at[r, "centre"], "source_patient_id": truth.at[r, "source_patient_id"],
            "source_sample_id": truth.at[r, "source_sample_id"],
            "case": case.name if case is not None else "latent_driver", "gene": gene,
            "hgvsp_short": hgvsp, "variant_classification": vc, "mutation_status": status,
            "classification": cls, "rule": rule, "origin": origin,
            "germline_follow_up": bool(follow_up), "second_hit": hit, "allelic_status": allelic}
