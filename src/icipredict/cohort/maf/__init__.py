"""Read mutation files (MAF) into the canonical ``mutations`` and ``germline_mutations`` tables.

Accepted: plain ``.maf``/``.txt``, gzip-compressed (detected by its magic bytes, whatever the
suffix), cBioPortal ``data_mutations*.txt``/``data_mutations_extended.maf``. Leading ``#`` lines
(``#version 2.4``) are skipped; blank lines are skipped (they are not data rows).

Reading streams: :mod:`pyarrow.csv` parses the file block by block (``BLOCK_SIZE``), only the
columns the contract needs are read (strings dictionary-encoded, numbers parsed by the reader),
each block is checked, classified and reduced at once, and numeric columns grow in place, so
memory stays bounded by the output (about 40 bytes a variant) rather than by the file: 10
million variants take about 6 s and 0.8 GB (``benchmarks/maf_reading.py``). String columns come
out as pandas ``category`` (Arrow-backed ``string`` above :data:`MAX_CATEGORIES` distinct
values, e.g. HGVSp of a huge file).

Column mapping (MAF -> canonical):

=======================  ==========================================================
Tumor_Sample_Barcode     sample_id (required)
Hugo_Symbol              hugo_symbol (required)
Variant_Classification   variant_classification (required)
HGVSp_Short              hgvsp_short (fallbacks: Protein_Change, HGVSp)
Chromosome               chromosome
Start_Position           start_position
Reference_Allele         reference_allele
Tumor_Seq_Allele2        tumor_seq_allele2
Mutation_Status          mutation_status (as written; decides somatic/germline/dropped, below)
VAF / t_vaf / tumor_vaf  vaf; else t_alt_count / (t_alt_count + t_ref_count). An explicit VAF
 / i_TumorVAF_WU         column whose values exceed 1 is read as a percentage (logged).
=======================  ==========================================================

Somatic means somatic
---------------------
``Mutation_Status`` (case-insensitive): ``Somatic`` or absent/empty -> ``mutations``;
``Germline`` -> ``germline_mutations`` (never somatic: not in TMB, not in the somatic BRCA1/2
registry); any other value (``Wildtype``, ``None``, ``LOH``, ``Unknown``, ...) is not a somatic
variant: the row is dropped and counted as ``"Mutation_Status=<value>"``. cBioPortal's importer
skips ``Validation_Status = Wildtype`` rows as not variants: they are dropped and counted as
``"Validation_Status=<value>"`` whatever their mutation status. Every data row is accounted for:
``n_rows == len(mutations) + len(germline) + sum(dropped.values())``.

Strict rules (``validate=True``), after cBioPortal's validator (``validateData.py``,
``MutationsExtendedValidator`` and the clinical ID rule)
-------------------------------------------------------------------------------------------
Each broken rule is a :class:`~icipredict.cohort.schema.CohortError` naming the file, the 1-based
line and the MAF column, and the file is refused (checked on every data row, as the validator
does). Several rules broken in one block are raised together (:class:`CohortErrors`).

- **Invalid UTF-8** anywhere in the file (cBioPortal: error "File contains invalid UTF-8 bytes").
- **Ragged row**: a line with another number of tab-separated fields than the header;
  a **repeated column header** (cBioPortal: error).
- ``Tumor_Sample_Barcode``, ``Hugo_Symbol`` empty (cBioPortal: ``checkNotBlank``, error).
- **Sample IDs** with whitespace or any of ``, ; * :`` (cBioPortal's IDs may only hold letters,
  digits, points, underscores and hyphens; the sample would never match the clinical file).
- ``Variant_Classification`` empty (cBioPortal: error) or **not in the MAF vocabulary**
  (:data:`VARIANT_CLASSIFICATIONS`, case-sensitive like cBioPortal, which includes its extra
  ``Splice_Region``, ``Fusion`` and ``Unknown``). cBioPortal only warns and keeps the value;
  we refuse it, because a class we do not know (``Missense_mUtAtioN``) would silently leave TMB.
- ``Chromosome`` ``NA``/empty, when the file has the column: a variant must have a location.
- ``Start_Position`` empty when the file has the column, or not written as a whole number
  (cBioPortal: "The start position of this variant is not an integer", error, e.g.
  ``16449539.0``).
- **Reference allele equal to the tumour allele**: ``Reference_Allele`` equals
  ``Tumor_Seq_Allele2`` and ``Tumor_Seq_Allele1`` (when given) too, so no allele differs from the
  reference (cBioPortal takes the tumour allele that differs from the reference; here there is
  none). ``NA``/empty alleles are not compared.
- Numbers (VAF, read counts) that are not numbers (``.`` and ``NA`` are missing, as in
  cBioPortal); VAF outside [0, 1] after the percent rule.

Warnings only in cBioPortal and not checked here: allele/Variant_Type consistency, SWISSPROT,
amino-acid change syntax, custom driver annotations, off-panel genes. Rows of classes cBioPortal
filters at import (``Silent``, ``Intron``, UTR, flank, ``IGR``, ``RNA``) are kept: TMB counts only
nonsynonymous classes (:mod:`icipredict.features.genomic`).

Modules: :mod:`~icipredict.cohort.maf.stream` (:func:`read_maf`: the file streamed block by
block), :mod:`~icipredict.cohort.maf.layout` (columns, row kinds, the header),
:mod:`~icipredict.cohort.maf.utf8` (invalid bytes refused as they pass),
:mod:`~icipredict.cohort.maf.text` (a block's dictionary-encoded strings),
:mod:`~icipredict.cohort.maf.rules` (the strict rules, numbers),
:mod:`~icipredict.cohort.maf.block` (one block checked, classified, reduced) and
:mod:`~icipredict.cohort.maf.tables` (blocks assembled into the two tables).
"""

from icipredict.cohort.maf.layout import (
    COUNT_COLUMNS,
    DROPPED,
    GERMLINE,
    HGVSP_FALLBACKS,
    INVALID_SAMPLE_ID,
    MAF_COLUMNS,
    REQUIRED_MAF_COLUMNS,
    SOMATIC,
    STATUS_COLUMNS,
    STRING_COLUMNS,
    VAF_COLUMNS,
    VARIANT_CLASSIFICATIONS,
    MafRead,
)
from icipredict.cohort.maf.stream import BLOCK_SIZE, RELEASE_EVERY, USE_THREADS, load_maf, read_maf
from icipredict.cohort.maf.tables import MAX_CATEGORIES

__all__ = [
    "BLOCK_SIZE",
    "COUNT_COLUMNS",
    "DROPPED",
    "GERMLINE",
    "HGVSP_FALLBACKS",
    "INVALID_SAMPLE_ID",
    "MAF_COLUMNS",
    "MAX_CATEGORIES",
    "RELEASE_EVERY",
    "REQUIRED_MAF_COLUMNS",
    "SOMATIC",
    "STATUS_COLUMNS",
    "STRING_COLUMNS",
    "USE_THREADS",
    "VAF_COLUMNS",
    "VARIANT_CLASSIFICATIONS",
    "MafRead",
    "load_maf",
    "read_maf",
]
