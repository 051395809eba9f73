"""Mutations of the sequenced patients: drivers placed first, passengers, silent and intron rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from icipredict.synthetic.genes import (
    ALL_GENES,
    HOTSPOTS,
    ICI_GENES,
    LOCUS_CHROM,
    LOCUS_START,
    NONSYN_P,
    NONSYNONYMOUS,
    panel_genes,
)
from icipredict.synthetic.model import DRIVER_GENES

_AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
_BASES = np.array(list("ACGT"))


def simulate_mutations(truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Draw MAF rows for every sequenced patient, consistent with its TMB and panel.

    Adds ``n_nonsynonymous``, ``tmb_true`` and ``mut_<GENE>`` (observed nonsynonymous status;
    missing when the gene is not on the panel or the patient was not sequenced) to ``truth``
    in place and returns the MAF as a DataFrame (MAF column names plus ``centre``).
    """
    rng = np.random.default_rng([seed, 2])
    seq = truth["sequenced"].to_numpy()
    size = truth["panel_size_mb"].to_numpy()
    n_nonsyn = np.where(seq, np.rint(truth["tmb_latent"].to_numpy() * np.nan_to_num(size)), 0)
    n_nonsyn = n_nonsyn.astype(np.int64)
    n = len(truth)
    panels = truth["panel"].to_numpy()
    on_panel = np.zeros((n, len(DRIVER_GENES)), dtype=bool)
    for p in pd.unique(panels[seq]):
        gene_set = set(panel_genes(p))
        rows = panels == p
        on_panel[rows] = [g in gene_set for g in DRIVER_GENES]
    latent = np.column_stack([truth[f"drv_{g}"].to_numpy() for g in DRIVER_GENES])
    candidates = latent & on_panel & seq[:, None]
    # Place latent drivers in random order while the nonsynonymous budget lasts.
    prio = np.where(candidates, rng.random(candidates.shape), np.inf)
    rank = np.argsort(np.argsort(prio, axis=1), axis=1)
    placed = candidates & (rank < n_nonsyn[:, None])
    n_pass = n_nonsyn - placed.sum(axis=1)

    parts = []
    # Drivers.
    pi, gi = np.nonzero(placed)
    if pi.size:
        gene = np.array(DRIVER_GENES)[gi]
        hs = [HOTSPOTS[g][k % len(HOTSPOTS[g])]
              for g, k in zip(gene, rng.integers(0, 60, pi.size), strict=True)]
        parts.append(pd.DataFrame({
            "row": pi, "Hugo_Symbol": gene, "HGVSp_Short": [h[0] for h in hs],
            "Variant_Classification": [h[1] for h in hs], "driver": True}))
    # Passengers (nonsynonymous, non-ICI genes) and silent/intron (any panel gene).
    n_silent = np.where(seq, rng.poisson(0.3 * n_nonsyn + 0.3), 0)
    n_intron = np.where(seq, rng.poisson(0.1 * n_nonsyn + 0.1), 0)
    for p in sorted(pd.unique(panels[seq])):
        rows = np.flatnonzero((panels == p) & seq)
        genes = np.array(panel_genes(p))
        passenger_pool = genes[~np.isin(genes, ICI_GENES)]
        for count, pool, classes in (
            (n_pass[rows], passenger_pool, None),
            (n_silent[rows], genes, "Silent"),
            (n_intron[rows], genes, "Intron"),
        ):
            r = np.repeat(rows, count)
            if r.size == 0:
                continue
            drawn = pool[rng.integers(0, pool.size, r.size)]
            vc = (np.array(NONSYNONYMOUS)[rng.choice(len(NONSYNONYMOUS), r.size, p=NONSYN_P)]
                  if classes is None else np.full(r.size, classes))
            parts.append(pd.DataFrame({"row": r, "Hugo_Symbol": drawn,
                                       "Variant_Classification": vc, "HGVSp_Short": None,
                                       "driver": False}))
    maf = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["row", "Hugo_Symbol", "Variant_Classification", "HGVSp_Short", "driver"])
    fill_maf_fields(maf, truth, rng)

    nonsyn = maf["Variant_Classification"].isin(NONSYNONYMOUS).to_numpy()
    counts = np.bincount(maf["row"].to_numpy()[nonsyn], minlength=n)
    truth["n_nonsynonymous"] = np.where(seq, counts, np.nan)
    truth["tmb_true"] = np.where(seq, counts / np.where(seq, size, 1.0), np.nan)
    truth["n_silent_intron"] = np.where(seq, np.bincount(maf["row"].to_numpy()[~nonsyn],
                                                         minlength=n), np.nan)
    for j, g in enumerate(DRIVER_GENES):
        truth[f"mut_{g}"] = np.where(on_panel[:, j] & seq, placed[:, j].astype(float), np.nan)
    return maf


def fill_maf_fields(maf: pd.DataFrame, truth: pd.DataFrame, rng: np.random.Generator) -> None:
    """Add sample, locus, alleles, protein change and read counts to the MAF rows (in place)."""
    m = len(maf)
    rows = maf["row"].to_numpy()
    maf["Tumor_Sample_Barcode"] = truth["source_sample_id"].to_numpy()[rows]
    maf["centre"] = truth["centre"].to_numpy()[rows]
    gene_idx = pd.Index(ALL_GENES).get_indexer(maf["Hugo_Symbol"])
    maf["Chromosome"] = LOCUS_CHROM[gene_idx]
    start = LOCUS_START[gene_idx] + rng.integers(0, 40_000, m)
    vc = maf["Variant_Classification"].to_numpy().astype(str)
    ref_i = rng.integers(0, 4, m)
    ref1 = _BASES[ref_i]
    alt1 = _BASES[(ref_i + rng.integers(1, 4, m)) % 4]
    tri = np.char.add(np.char.add(ref1, _BASES[rng.integers(0, 4, m)]),
                      _BASES[rng.integers(0, 4, m)])
    is_del = np.isin(vc, ["Frame_Shift_Del", "In_Frame_Del"])
    is_ins = np.isin(vc, ["Frame_Shift_Ins", "In_Frame_Ins"])
    in_frame = np.isin(vc, ["In_Frame_Del", "In_Frame_Ins"])
    ref = np.where(is_del, np.where(in_frame, tri, ref1), np.where(is_ins, "-", ref1))
    alt = np.where(is_del, "-", np.where(is_ins, np.where(in_frame, tri, alt1), alt1))
    maf["Variant_Type"] = np.where(is_del, "DEL", np.where(is_ins, "INS", "SNP"))
    maf["Start_Position"] = start
    maf["End_Position"] = np.where(is_ins, start + 1, start + np.char.str_len(ref) - 1)
    maf["Reference_Allele"] = ref
    maf["Tumor_Seq_Allele1"] = ref
    maf["Tumor_Seq_Allele2"] = alt
    # Protein changes for non-driver rows, built per class on that class's rows only.
    pos = rng.integers(2, 1500, m)
    a1, a2 = _AA[rng.integers(0, 20, m)], _AA[rng.integers(0, 20, m)]
    hgvsp = maf["HGVSp_Short"].to_numpy().astype(object)
    todo = ~maf["driver"].to_numpy().astype(bool)
    templates = {
        "Missense_Mutation": "p.{a1}{pos}{a2}", "Nonsense_Mutation": "p.{a1}{pos}*",
        "Frame_Shift_Del": "p.{a1}{pos}fs", "Frame_Shift_Ins": "p.{a1}{pos}fs",
        "In_Frame_Del": "p.{a1}{pos}del", "In_Frame_Ins": "p.{a1}{pos}_ins{a2}",
        "Splice_Site": "p.X{pos}_splice", "Nonstop_Mutation": "p.*{pos}{a2}ext*?",
        "Splice_Region": "p.X{pos}_splice", "Silent": "p.{a1}{pos}=",
    }
    for cls, template in templates.items():
        sel = np.flatnonzero(todo & (vc == cls))
        hgvsp[sel] = [template.format(a1=x, pos=q, a2=y)
                      for x, q, y in zip(a1[sel], pos[sel], a2[sel], strict=True)]
    hgvsp[vc == "Intron"] = ""
    maf["HGVSp_Short"] = hgvsp
    # Read depths; drivers are clonal (higher VAF) and scale with purity.
    purity = truth["tumour_purity"].to_numpy()[rows]
    wes = truth["panel"].to_numpy()[rows] == "WES"
    depth = np.where(wes, rng.poisson(110, m), rng.poisson(550, m)) + 20
    vaf = np.where(maf["driver"].to_numpy().astype(bool), purity / 2 * rng.uniform(0.8, 1.2, m),
                   rng.beta(3, 9, m) * purity * 1.4)
    alt_count = np.maximum(rng.binomial(depth, np.clip(vaf, 0.02, 0.98)), 4)
    maf["t_depth"] = depth
    maf["t_alt_count"] = alt_count
    maf["t_ref_count"] = depth - alt_count
