"""Origin of each BRCA1/2 variant: somatic (confirmed or tumour-only) or germline.

Rule implemented (ESMO Precision Medicine Working Group, Mandelker et al., "Germline-focussed
analysis of tumour-only sequencing: recommendations from the ESMO Precision Medicine Working
Group", Ann Oncol 2019): BRCA1 and BRCA2 are among the genes with a high germline conversion
rate, for which a pathogenic variant found by tumour-only sequencing warrants germline testing
in every tumour type and at any variant allele fraction. Here:

- a row of ``germline_mutations`` (MAF ``Mutation_Status = Germline``) has origin ``germline``;
  it is listed apart and never counted as a somatic carrier;
- a somatic row whose ``Mutation_Status`` is ``Somatic`` (tumour/normal pair) has origin
  ``somatic``: germline origin is excluded, no follow-up;
- a somatic row without a status (tumour-only, or status not kept) has origin
  ``somatic_unconfirmed``; when it is pathogenic or likely pathogenic,
  ``germline_follow_up`` is true whatever its VAF.

The MAF's ``Mutation_Status`` is kept as written in the ``mutation_status`` column of
``mutations``, so rows read from the store carry it too.
"""

from __future__ import annotations

import pandas as pd

#: Classes that trigger germline follow-up of a tumour-only variant.
FOLLOW_UP_CLASSES = ("pathogenic", "likely_pathogenic")

ESMO_RULE = ("ESMO PMWG (Mandelker et al., Ann Oncol 2019): a pathogenic or likely pathogenic "
             "BRCA1/2 variant from tumour-only sequencing warrants germline testing, in any "
             "tumour type and at any VAF")


def assign_origin(df: pd.DataFrame, *, germline: bool = False) -> pd.DataFrame:
    """Add ``origin`` and ``germline_follow_up`` to classified variant rows.

    Parameters
    ----------
    df
        Rows with ``classification``; an optional ``mutation_status`` column (MAF
        ``Mutation_Status``) says which somatic rows were confirmed on a matched normal.
    germline
        The rows come from ``germline_mutations``.
    """
    out = df.copy()
    if germline:
        out["origin"] = "germline"
        out["germline_follow_up"] = False
        return out
    status = (out["mutation_status"].astype("string").str.strip().str.lower()
              if "mutation_status" in out.columns else pd.Series(pd.NA, index=out.index,
                                                                 dtype="string"))
    confirmed = status.eq("somatic").fillna(False).astype(bool)
    out["origin"] = ["somatic" if c else "somatic_unconfirmed" for c in confirmed]
    out["germline_follow_up"] = (~confirmed) & out["classification"].isin(FOLLOW_UP_CLASSES)
    return out
