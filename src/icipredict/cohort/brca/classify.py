"""Rule-based classification of BRCA1/2 variants (ACMG/ENIGMA spirit), with a versioned knowledge base.

Rules, first match wins (the ``rule`` column names the one that decided):

1. ``curated``: the variant (gene + HGVSp_Short) is in the knowledge base
   (``knowledge_base.yaml``, package data): its class and source are the entry's.
2. ``brca2_c_terminal``: a truncating BRCA2 variant at or past codon 3326 (the benign common
   polymorphism p.K3326* and truncations after it leave BRCA2's functional domains intact):
   ``likely_benign``.
3. ``truncating``: nonsense, frameshift and canonical splice-site variants (MAF ``Splice_Site``:
   the ±1/±2 intronic positions, splice donor/acceptor variants in VEP, which vcf2maf maps to
   ``Splice_Site``; ``Splice_Region`` is not one) -> ``pathogenic`` (loss of function, PVS1).
4. ``vus_default``: every other protein-altering variant (missense, in-frame, start/stop loss
   not in the knowledge base) -> ``vus``.

Copy number: a deep deletion (discrete CNA -2) of BRCA1/2 is ``pathogenic`` (rule
``cna_deep_deletion``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

#: The classes of the ``classification`` column, most to least damaging.
CLASSES: tuple[str, ...] = ("pathogenic", "likely_pathogenic", "vus", "likely_benign", "benign")

#: MAF classes that truncate the protein (loss of function).
TRUNCATING: tuple[str, ...] = ("Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
                               "Splice_Site")

#: Genes of the registry.
BRCA_GENES: tuple[str, ...] = ("BRCA1", "BRCA2")

_THREE = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E",
          "Gly": "G", "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F",
          "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Ter": "*"}
_POSITION = re.compile(r"^p\.[A-Z*]?(\d+)")


@dataclass(frozen=True)
class KnowledgeBase:
    """The curated variants and the version they ship with.

    Attributes
    ----------
    version
        Knowledge-base version (column ``kb_version`` of every registry row).
    c_terminal_codon
        BRCA2 codon from which truncations are the C-terminal exception (3326).
    entries
        ``(gene, hgvsp_short) -> entry`` (keys: classification, source, hgvsc, note).
    """

    version: str
    c_terminal_codon: int
    entries: dict[tuple[str, str], dict] = field(default_factory=dict)


@lru_cache(maxsize=1)
def load_knowledge_base() -> KnowledgeBase:
    """The knowledge base shipped with the package (``cohort/brca/knowledge_base.yaml``)."""
    text = resources.files("icipredict.cohort.brca").joinpath("knowledge_base.yaml").read_text(
        encoding="utf-8")
    raw = yaml.safe_load(text)
    entries = {}
    for item in raw["variants"]:
        if item["classification"] not in CLASSES:
            raise ValueError(f"knowledge base: unknown class {item['classification']!r}")
        if not item.get("source"):
            raise ValueError(f"knowledge base: {item['gene']} {item['hgvsp_short']} has no source")
        entries[(item["gene"], normalise_hgvsp(item["hgvsp_short"]))] = item
    return KnowledgeBase(str(raw["version"]), int(raw["brca2_c_terminal_codon"]), entries)


def normalise_hgvsp(value: object) -> str:
    """HGVSp in the MAF's short form: ``p.K3326*`` from ``K3326X``, ``p.Lys3326Ter``, ..."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if not text.startswith("p."):
        text = "p." + text
    for three, one in _THREE.items():
        text = text.replace(three, one)
    if re.match(r"^p\.[A-Z]\d+X$", text):
        text = text[:-1] + "*"
    return text


def protein_position(hgvsp: object) -> int | None:
    """The first codon of an HGVSp change (``p.K3326*`` -> 3326), or None."""
    m = _POSITION.match(normalise_hgvsp(hgvsp))
    return int(m.group(1)) if m else None


def classify_variant(gene: str, variant_classification: str, hgvsp_short: object,
                     kb: KnowledgeBase | None = None) -> tuple[str, str]:
    """Class and deciding rule of one protein-altering variant.

    Parameters
    ----------
    gene
        ``BRCA1`` or ``BRCA2`` (other genes get the same generic rules, with no curation).
    variant_classification
        MAF ``Variant_Classification``.
    hgvsp_short
        MAF ``HGVSp_Short`` (may be missing, e.g. for splice-site variants).
    kb
        Knowledge base (default: the shipped one).

    Returns
    -------
    tuple of str
        ``(classification, rule)``; see the module docstring for the rules.
    """
    kb = kb or load_knowledge_base()
    gene = str(gene).upper()
    hgvsp = normalise_hgvsp(hgvsp_short)
    entry = kb.entries.get((gene, hgvsp))
    if entry is not None:
        return entry["classification"], "curated"
    vc = str(variant_classification)
    if vc in TRUNCATING:
        pos = protein_position(hgvsp)
        if gene == "BRCA2" and pos is not None and pos >= kb.c_terminal_codon:
            return "likely_benign", "brca2_c_terminal"
        return "pathogenic", "truncating"
    return "vus", "vus_default"


def classify_frame(df: pd.DataFrame, kb: KnowledgeBase | None = None) -> pd.DataFrame:
    """Add ``classification``, ``rule``, ``kb_version`` and ``kb_source`` to variant rows.

    ``df`` needs ``gene`` (or ``hugo_symbol``), ``variant_classification`` and ``hgvsp_short``.
    """
    kb = kb or load_knowledge_base()
    out = df.copy()
    gene_col = "gene" if "gene" in out.columns else "hugo_symbol"
    results = [classify_variant(g, v, h, kb) for g, v, h in
               zip(out[gene_col], out["variant_classification"], out["hgvsp_short"],
                   strict=True)]
    out["classification"] = [r[0] for r in results]
    out["rule"] = [r[1] for r in results]
    out["kb_version"] = kb.version
    out["kb_source"] = [
        kb.entries[(str(g).upper(), normalise_hgvsp(h))]["source"] if r[1] == "curated" else None
        for g, h, r in zip(out[gene_col], out["hgvsp_short"], results, strict=True)]
    return out


def classify_cna(value: Any) -> tuple[str, str] | None:
    """A discrete copy-number call of BRCA1/2: deep deletion (-2) -> pathogenic, else None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if v <= -2:
        return "pathogenic", "cna_deep_deletion"
    return None
