"""A deterministic synthetic network of six centres with a known generative model.

``generate_network(out, n_patients=600, seed=7)`` writes six centres, each in a real input format
that :func:`icipredict.cohort.loaders.load_source` reads, plus the truth::

    OUT/network.yaml          centres, their format, quirks and the path to pass to load_source
    OUT/truth.parquet         one row per patient: latent covariates, true TMB, true linear
                              predictor / probability of response, true log-hazards, outcomes
    OUT/truth.yaml            this generative model and its true coefficients
    OUT/brca_truth.parquet    every BRCA1/2 registry row the network implies, with the class,
                              origin and second hit the registry must give (see below)
    OUT/<centre>/...          the centre's files (paths inside are relative to the centre folder)

Centres
-------
========== ========================= ================== =============================================
centre     format                    assay              quirks
========== ========================= ================== =============================================
harbour    cBioPortal study folder   IMPACT468/341      no imaging at all; IMPACT341 lacks B2M, JAK1,
                                                        MDM4, PBRM1 (not profiled, never wild type);
                                                        discrete CNA of BRCA1/2 and ATM; germline
                                                        rows (MAF Mutation_Status)
lindenhof  XLSX + column map         FoundationOneCDx   albumin and haemoglobin in g/L, purity in %,
                                                        MAF .maf.gz; NIfTI images
riverside  CSV + column map          TSO500             OS/PFS in days; plain .maf with #version line;
                                                        NIfTI images
alpenrose  TSV + column map          WES (30 Mb)        neutrophil/lymphocyte counts instead of NLR;
                                                        events coded 1 = censored; precomputed
                                                        radiomics tables instead of images
coastline  Parquet + column map      MSK-IMPACT410      binary responder only (no RECIST); drug class
                                                        only; NIfTI images, some with 2 lesions
meridian   CSV + column map          FoundationOneCDx   20% of patients not sequenced; MAF .maf.gz;
                                                        NIfTI images
========== ========================= ================== =============================================

Generative model (all draws from ``numpy.random.default_rng(seed)``)
--------------------------------------------------------------------
Covariates, following the Chowell 2022 cohort:

- centre by ``CENTRES[*].share``; cancer type (OncoTree code) from the centre's case mix (the
  base mix is Chowell's: NSCLC 36%, melanoma 13%, others; centres tilt it).
- age ~ N(63, 12) clipped to [18, 90]; sex by cancer type; BMI log-normal (median 26);
  ECOG 0/1/2 with p = .40/.50/.10; stage IV with p = .92; smoking by cancer type.
- NLR log-normal (median 4.3, sdlog 0.65); lymphocytes log-normal (median 1.2 10^9/L),
  neutrophils = NLR x lymphocytes; albumin ~ N(3.8, 0.45) g/dL clipped to [2, 5];
  platelets, haemoglobin and LDH with realistic spreads (no effect on outcome).
- prior systemic therapy (p ~ .69, lower in melanoma); drug class (combination ~17%, more in
  melanoma and renal), a concrete drug name per class, line of therapy, ICI start 2015-2018.
- latent driver mutations per gene with cancer-type prevalences (``DRIVER_PREVALENCE``);
  MSI-H (~3%, mostly UCEC/COADREAD/STAD), POLE ultramutation (~1%), BRCA1/2 carriers (~4%).
- latent TMB log-normal: median 4 x cancer-type factor, sdlog 0.95, x6 (min 20) for MSI-H,
  x15 (min 80) for POLE, x1.4 for BRCA carriers, capped at 400 mut/Mb.
- latent texture score ``texture_z`` ~ N(0, 1): lesion heterogeneity (see
  :mod:`~icipredict.synthetic.images`).
- FCNA, HED, HLA LOH, purity: drawn, no effect on outcome (null covariates).

Sequencing: for a sequenced patient on panel P (size s Mb), the number of nonsynonymous
variants is ``n = round(TMB_latent * s)``; latent drivers on P are placed first (up to n), the
rest are passenger variants in non-ICI genes of P. Silent and Intron variants (Poisson, about
0.3n and 0.1n) are added on any gene of P and must NOT count. The true TMB recorded in the
truth is exactly ``n / s``. A latent driver in a gene absent from P is not observed.

Response: ``logit P(response) = RESPONSE_COEF . x`` (see ``RESPONSE_COEF``) with
``x = [1, log1p(TMB_latent), albumin - 3.8, log(NLR / 4), prior therapy, ECOG, combination,
MSI-H, STK11 x NSCLC, KEAP1 x NSCLC, (B2M or JAK1 or JAK2), texture_z]`` plus a cancer-type
offset (``CANCER_RESPONSE_OFFSET``) and a small centre offset (``CENTRE_RESPONSE_OFFSET``).
Latent (biological) mutation status is used, whether or not the panel observed it; the texture
acts for every tumour but is only observed (through images) for imaged patients.
Responders get CR (25%) or PR; non-responders SD (40%), PD (50%) or NE (10%).

Survival: Weibull proportional hazards, ``S(t) = exp(-(t / scale)^k * exp(eta))`` with
``eta = OS_COEF . z + cancer-type log-HR`` (responder strongly protective). OS: k = 0.95,
scale chosen so the overall median OS is ~16 months; PFS: k = 0.85, PFS = min(progression,
death). Censoring: administrative at the 2019-06-30 data cut (6-54 months after start) and
random loss to follow-up (exponential, mean 150 months).

BRCA1/2 registry cases (:mod:`~icipredict.synthetic.brca`, drawn from their own spawned
stream, so the draws above do not move): harbour patients carrying a benign polymorphism
(BRCA2 p.K3326*), a VUS missense, a pathogenic monoallelic variant, pathogenic biallelic ones
(second hit by a deep deletion, a shallow loss, a second pathogenic variant) and germline
variants, two of each; a designed somatic variant replaces a passenger, so TMB is unchanged.

Modules
-------
:mod:`~icipredict.synthetic.network` (:func:`generate_network`),
:mod:`~icipredict.synthetic.model` (centres and true effects), :mod:`~icipredict.synthetic.genes`
(panels, loci, hotspots), :mod:`~icipredict.synthetic.patients` and
:mod:`~icipredict.synthetic.mutations` (the draws), :mod:`~icipredict.synthetic.formats` (shared
writing helpers), :mod:`~icipredict.synthetic.cbioportal` and :mod:`~icipredict.synthetic.centres`
(each centre's files), :mod:`~icipredict.synthetic.truth`
(``truth.parquet`` columns and ``truth.yaml``), :mod:`~icipredict.synthetic.brca` (registry cases
of known truth) and :mod:`~icipredict.synthetic.images` (CT-like
lesion images). The package writes centre files that :mod:`icipredict.cohort` reads; nothing in
``cohort`` imports it.
"""

from icipredict.synthetic.formats import MAF_COLUMNS, Col, scan_stem
from icipredict.synthetic.genes import (
    ALL_GENES,
    FILLER_GENES,
    GENOME_WIDE,
    HOTSPOTS,
    ICI_GENES,
    NONSYNONYMOUS,
    OTHER_GENES,
    PANEL_MISSING,
    panel_genes,
)
from icipredict.synthetic.model import (
    BASE_MIX,
    CANCER_OS_LOGHR,
    CANCER_RESPONSE_OFFSET,
    CENTRES,
    CODES,
    DATA_CUT,
    DRIVER_GENES,
    DRIVER_PREVALENCE,
    GENERATOR_VERSION,
    LOSS_MEAN_MONTHS,
    MSI_PREVALENCE,
    OS_COEF,
    OS_SCALE,
    OS_SHAPE,
    PFS_COEF,
    PFS_SCALE,
    PFS_SHAPE,
    RESPONSE_COEF,
    START_DAYS,
    START_FIRST,
    TMB_FACTOR,
    CentreSpec,
    centre_mix,
)
from icipredict.synthetic.mutations import simulate_mutations
from icipredict.synthetic.network import Network, generate_network
from icipredict.synthetic.patients import simulate_patients
from icipredict.synthetic.truth import TRUTH_COLUMNS

__all__ = [
    "ALL_GENES",
    "BASE_MIX",
    "CANCER_OS_LOGHR",
    "CANCER_RESPONSE_OFFSET",
    "CENTRES",
    "CODES",
    "DATA_CUT",
    "DRIVER_GENES",
    "DRIVER_PREVALENCE",
    "FILLER_GENES",
    "GENERATOR_VERSION",
    "GENOME_WIDE",
    "HOTSPOTS",
    "ICI_GENES",
    "LOSS_MEAN_MONTHS",
    "MAF_COLUMNS",
    "MSI_PREVALENCE",
    "NONSYNONYMOUS",
    "OS_COEF",
    "OS_SCALE",
    "OS_SHAPE",
    "OTHER_GENES",
    "PANEL_MISSING",
    "PFS_COEF",
    "PFS_SCALE",
    "PFS_SHAPE",
    "RESPONSE_COEF",
    "START_DAYS",
    "START_FIRST",
    "TMB_FACTOR",
    "TRUTH_COLUMNS",
    "CentreSpec",
    "Col",
    "Network",
    "centre_mix",
    "generate_network",
    "panel_genes",
    "scan_stem",
    "simulate_mutations",
    "simulate_patients",
]
