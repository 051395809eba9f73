"""Genes and panels of the synthetic network: panel gene lists, loci, variant classes, hotspots."""

from __future__ import annotations

import zlib

import numpy as np

#: Genes the ICI models look at; every panel has them except MSK-IMPACT341 (see PANEL_MISSING).
ICI_GENES = ("BRCA1", "BRCA2", "POLE", "STK11", "KEAP1", "PTEN", "B2M", "JAK1", "JAK2", "EGFR",
             "KRAS", "TP53", "ARID1A", "SMARCA4", "PBRM1", "MDM2", "MDM4")
OTHER_GENES = ("APC", "ATM", "BRAF", "CDKN2A", "CTNNB1", "ERBB2", "FBXW7", "FGFR3", "IDH1",
               "KDM6A", "KMT2D", "MET", "NF1", "NRAS", "PIK3CA", "RB1", "SMAD4", "VHL", "NOTCH1",
               "ATRX", "CREBBP", "EP300", "FAT1", "TERT", "ALK", "ROS1", "RET", "BAP1", "SETD2",
               "CDH1", "MSH2", "MSH6", "MLH1", "PMS2", "POLD1", "ERCC2", "NFE2L2", "CIC", "RNF43",
               "ZFHX3")
#: Synthetic filler gene names that pad panels to their real gene counts.
FILLER_GENES = tuple(f"SYNG{i:04d}" for i in range(2000))
#: panel -> (gene count, filler slice start); gene count includes the ICI and other genes.
_PANEL_LAYOUT = {
    "MSK-IMPACT468": (468, 0), "MSK-IMPACT410": (410, 0), "MSK-IMPACT341": (341, 0),
    "FoundationOneCDx": (324, 600), "TSO500": (523, 1000),
}
#: ICI genes a panel does not cover ("not profiled" on that panel).
PANEL_MISSING = {"MSK-IMPACT341": ("B2M", "JAK1", "MDM4", "PBRM1")}
#: Panels that cover the genome (no panel gene list; TMB over the exome).
GENOME_WIDE = ("WES",)


def panel_genes(panel: str) -> tuple[str, ...]:
    """Genes on a synthetic panel (for WES: every synthetic gene).

    Parameters
    ----------
    panel
        A key of :data:`icipredict.cohort.harmonise.PANELS` used by the generator.
    """
    if panel in GENOME_WIDE:
        return ICI_GENES + OTHER_GENES + FILLER_GENES
    count, start = _PANEL_LAYOUT[panel]
    core = tuple(g for g in ICI_GENES if g not in PANEL_MISSING.get(panel, ())) + OTHER_GENES
    return core + FILLER_GENES[start:start + count - len(core)]


ALL_GENES = ICI_GENES + OTHER_GENES + FILLER_GENES
_CHROM = {"BRCA1": ("17", 41196312), "BRCA2": ("13", 32889611), "POLE": ("12", 133200348),
          "STK11": ("19", 1205798), "KEAP1": ("19", 10596796), "PTEN": ("10", 89623195),
          "B2M": ("15", 45003675), "JAK1": ("1", 65298912), "JAK2": ("9", 4985033),
          "EGFR": ("7", 55086714), "KRAS": ("12", 25357723), "TP53": ("17", 7571720),
          "ARID1A": ("1", 27022522), "SMARCA4": ("19", 11071840), "PBRM1": ("3", 52579368),
          "MDM2": ("12", 69201956), "MDM4": ("1", 204485511)}


def _gene_locus(gene: str) -> tuple[str, int]:
    """Chromosome and start of a gene: real for the ICI genes, a stable hash for the others."""
    if gene in _CHROM:
        return _CHROM[gene]
    h = zlib.crc32(gene.encode())
    return str(h % 22 + 1), 1_000_000 + (h >> 8) % 100_000_000


LOCUS_CHROM = np.array([_gene_locus(g)[0] for g in ALL_GENES], dtype=object)
LOCUS_START = np.array([_gene_locus(g)[1] for g in ALL_GENES], dtype=np.int64)

# The classes cBioPortal's TMB counts (calc_nonsyn_tmb.py: Splice_Region in, Translation_Start_Site
# out), so the truth's TMB is the one the feature stage computes from the MAF.
NONSYNONYMOUS = ("Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
                 "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Nonstop_Mutation",
                 "Splice_Region")
NONSYN_P = np.array([0.72, 0.08, 0.07, 0.03, 0.03, 0.01, 0.05, 0.005, 0.005])
NONSYN_P = NONSYN_P / NONSYN_P.sum()

#: Driver hotspots: gene -> [(HGVSp_Short, Variant_Classification)].
HOTSPOTS: dict[str, list[tuple[str, str]]] = {
    "KRAS": [("p.G12C", "Missense_Mutation"), ("p.G12D", "Missense_Mutation"),
             ("p.G12V", "Missense_Mutation"), ("p.G13D", "Missense_Mutation")],
    "EGFR": [("p.L858R", "Missense_Mutation"), ("p.E746_A750del", "In_Frame_Del"),
             ("p.T790M", "Missense_Mutation")],
    "TP53": [("p.R175H", "Missense_Mutation"), ("p.R248Q", "Missense_Mutation"),
             ("p.R273H", "Missense_Mutation"), ("p.R282W", "Missense_Mutation"),
             ("p.R213*", "Nonsense_Mutation"), ("p.X125_splice", "Splice_Site")],
    "STK11": [("p.Q37*", "Nonsense_Mutation"), ("p.D194Y", "Missense_Mutation"),
              ("p.F354L", "Missense_Mutation"), ("p.P281Rfs*6", "Frame_Shift_Del")],
    "KEAP1": [("p.G333C", "Missense_Mutation"), ("p.R470C", "Missense_Mutation"),
              ("p.G480W", "Missense_Mutation"), ("p.R413L", "Missense_Mutation")],
    "POLE": [("p.P286R", "Missense_Mutation"), ("p.V411L", "Missense_Mutation"),
             ("p.S459F", "Missense_Mutation")],
    "BRCA1": [("p.E23Vfs*17", "Frame_Shift_Del"), ("p.Q1756Pfs*74", "Frame_Shift_Ins"),
              ("p.R1443*", "Nonsense_Mutation"), ("p.C61G", "Missense_Mutation"),
              ("p.M1775R", "Missense_Mutation"), ("p.S1655F", "Missense_Mutation")],
    "BRCA2": [("p.S1982Rfs*22", "Frame_Shift_Del"), ("p.E1953*", "Nonsense_Mutation"),
              ("p.K3326*", "Nonsense_Mutation"), ("p.N1784Kfs*3", "Frame_Shift_Ins"),
              ("p.D2723H", "Missense_Mutation"), ("p.R3052W", "Missense_Mutation")],
    "PTEN": [("p.R130Q", "Missense_Mutation"), ("p.R130*", "Nonsense_Mutation"),
             ("p.R233*", "Nonsense_Mutation"), ("p.K267Rfs*9", "Frame_Shift_Del")],
    "B2M": [("p.W80*", "Nonsense_Mutation"), ("p.L15Ffs*41", "Frame_Shift_Del"),
            ("p.S14*", "Nonsense_Mutation")],
    "JAK1": [("p.K860Nfs*16", "Frame_Shift_Ins"), ("p.P430Rfs*2", "Frame_Shift_Del"),
             ("p.Q503*", "Nonsense_Mutation")],
    "JAK2": [("p.Q1100*", "Nonsense_Mutation"), ("p.D313Efs*6", "Frame_Shift_Del")],
    "ARID1A": [("p.Q1334*", "Nonsense_Mutation"), ("p.D1850Tfs*33", "Frame_Shift_Del"),
               ("p.R1989*", "Nonsense_Mutation")],
    "SMARCA4": [("p.R1192C", "Missense_Mutation"), ("p.T910M", "Missense_Mutation"),
                ("p.E1153*", "Nonsense_Mutation")],
    "PBRM1": [("p.Q1298*", "Nonsense_Mutation"), ("p.E1103Kfs*2", "Frame_Shift_Del")],
    "MDM2": [("p.E216K", "Missense_Mutation")],
    "MDM4": [("p.R379H", "Missense_Mutation")],
}
