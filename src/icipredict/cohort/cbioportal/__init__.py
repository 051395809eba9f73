"""Load a cBioPortal study folder into a validated cohort, as cBioPortal reads it.

Which files are read
--------------------
Every ``meta_*.txt`` file (cBioPortal's rule: a name with ``meta`` as a word or ``meta_``) is
parsed; its ``genetic_alteration_type`` / ``datatype`` says what its ``data_filename:`` holds:

=======================================  ===================================================
``meta_study.txt`` (``type_of_cancer``)  required; ``cancer_study_identifier`` is the default
                                         centre, ``type_of_cancer`` the cancer type of
                                         patients no ``CANCER_TYPE`` attribute types
CLINICAL / SAMPLE_ATTRIBUTES             the sample file (required)
CLINICAL / PATIENT_ATTRIBUTES            the patient file (optional; may hold only outcomes)
MUTATION_EXTENDED / MAF                  every mutation file (``.txt`` or ``.maf``), read by
                                         :func:`icipredict.cohort.maf.read_maf`
GENE_PANEL_MATRIX                        sample -> gene panel per profile (column = the
                                         mutation profile's ``stable_id``)
CANCER_TYPE                              custom cancer types (``type_of_cancer``, name, colour,
                                         parent) used to resolve ``type_of_cancer``
COPY_NUMBER_ALTERATION / DISCRETE(_LONG) ``cna``: GISTIC calls of the homologous-recombination
                                         genes only (:mod:`~icipredict.cohort.cbioportal.cna`)
=======================================  ===================================================

``MUTATION_UNCALLED`` profiles are not variants: their rows are counted in ``load_report`` and not
read; other profiles (continuous CNA, segments, expression, ...) are ignored with a log line. A role without any meta
file falls back to the conventional names (``data_clinical_sample(s).txt``,
``data_clinical_patient(s).txt``, ``data_mutations*.txt|.maf`` except ``*uncalled*``,
``data_gene_panel_matrix.txt``), with a log line. Gene panel definitions are the
``*gene_panel*.txt`` files with ``stable_id:`` and ``gene_list:`` lines (-> ``panel_genes``).

Who was sequenced
-----------------
The ``_sequenced`` case list (``case_lists/``: a file whose ``stable_id`` ends in
``_sequenced``, or whose ``case_list_category`` is ``all_cases_with_mutation_data``) lists the
samples profiled for mutations. A sample not in it has **no panel and no panel size**, so features
treat it as not profiled (TMB and gene flags missing, never 0). A sequenced sample gets, in this
order: its panel in the gene panel matrix (``WXS``/``WGS``/``WXS/WGS`` = whole exome), its
``GENE_PANEL`` attribute, the mutation profile's ``gene_panel:`` meta property, else (cBioPortal:
no panel means whole exome/genome) ``WES`` when the profile's name or description says exome or
genome; otherwise its territory stays unknown (warning). Panel sizes come from
:func:`icipredict.cohort.harmonise.panel_size_mb` (unknown panels: missing, with a warning).
Without a ``_sequenced`` case list (older folders) the sequenced samples are those with MAF rows
or a panel.

Refused as cBioPortal's validator refuses them (``CohortError`` naming file, row and column)
-----------------------------------------------------------------------------------------------
- ``PATIENT_ID``/``SAMPLE_ID`` with characters other than letters, digits, ``.``, ``_``, ``-``
  (cBioPortal's File-Formats rule: spaces, ``,;*:`` ... are errors); sample IDs over 63 characters;
- ``OS_STATUS`` other than ``0:LIVING``/``1:DECEASED`` (or ``LIVING``/``DECEASED``), case as
  written (``0:ALIVE``, ``0:living`` are errors); ``DFS_STATUS`` other than ``0:DiseaseFree``,
  ``1:Recurred/Progressed``, ``1:Recurred``, ``1:Progressed`` (or without the prefix); any other
  ``X_STATUS`` paired with ``X_MONTHS`` (e.g. ``PFS_STATUS``) not starting ``0:`` or ``1:``;
- a sample listed twice in the gene panel matrix; matrix, case-list or MAF samples absent from
  the sample file; a matrix mutation panel for a sample outside the ``_sequenced`` list; MAF
  samples missing from the ``_sequenced`` list.

Every MAF row is accounted for: somatic rows -> ``mutations``, germline rows ->
``germline_mutations``, the others counted by reason in ``Cohort.load_report``
(``"<file>: <reason>"``).

Clinical attributes understood (either file; others are ignored with a log message):

=================================================  ======================================
PATIENT_ID, SAMPLE_ID                              patient_id, sample_id
AGE, AGE_AT_ICI, AGE_AT_TREATMENT                  age (years)
SEX, GENDER                                        sex (Male/Female)
OS_MONTHS, OS_STATUS                               os_months, os_event ("1:DECEASED"/"0:LIVING")
PFS_MONTHS, PFS_STATUS                             pfs_months, pfs_event ("1:..."/"0:...")
CANCER_TYPE (patient level from the first sample)  cancer_type (OncoTree code)
TMB_NONSYNONYMOUS, TMB                             tmb (mut/Mb)
MSI_SCORE, MSI_TYPE                                msi_score, msi_status (Instable/Stable)
GENE_PANEL                                         panel (when the matrix gives none)
TUMOR_PURITY                                       tumour_purity (read as %, converted)
FRACTION_GENOME_ALTERED, FCNA, HED, HLA_LOH        fcna, hed, hla_loh
PDL1_TPS                                           pdl1_tps (%)
DRUG_TYPE, DRUG_CLASS / DRUG, TREATMENT            drug_class / drug
PRIOR_SYSTEMIC_THERAPY, CHEMO_BEFORE_IO            prior_systemic_therapy
LINE_OF_THERAPY                                    line
ALBUMIN (g/dL), NLR, PLATELETS, HGB/HEMOGLOBIN     albumin, nlr, platelets, haemoglobin (g/dL)
NEUTROPHILS, LYMPHOCYTES, LDH                      neutrophils, lymphocytes (10^9/L), ldh (U/L)
BOR, BEST_OVERALL_RESPONSE, RECIST                 bor (responder derived unless RESPONDER)
RESPONDER                                          responder (0/1)
BMI, ECOG, SMOKING_HISTORY, STAGE                  bmi, ecog, smoking, stage_iv
=================================================  ======================================

Patients named only in the sample file are patients too (cBioPortal creates them). cBioPortal
declares no units: lab values are taken to be in the contract's units (US conventions, as at
MSK), and the range checks flag files that are not.

Modules: :mod:`~icipredict.cohort.cbioportal.loader` (:func:`load_cbioportal`),
:mod:`~icipredict.cohort.cbioportal.files` (meta files and file roles),
:mod:`~icipredict.cohort.cbioportal.rules` (the validator's rules on clinical values),
:mod:`~icipredict.cohort.cbioportal.clinical` (clinical attributes, cancer type, patients),
:mod:`~icipredict.cohort.cbioportal.mutations` (mutation files and case lists) and
:mod:`~icipredict.cohort.cbioportal.panels` (gene panel matrix, panels and their sizes),
:mod:`~icipredict.cohort.cbioportal.cna` (discrete copy number of the HR genes).
"""

from icipredict.cohort.cbioportal.clinical import (
    ATTRIBUTES,
    CBIO_NA,
    read_cancer_types,
    read_clinical,
    study_cancer_type,
)
from icipredict.cohort.cbioportal.files import (
    META_NAME,
    MutationProfile,
    StudyFiles,
    find_study_files,
    read_meta,
)
from icipredict.cohort.cbioportal.loader import load_cbioportal
from icipredict.cohort.cbioportal.mutations import (
    CaseList,
    check_case_list,
    read_case_list,
    read_mutations,
    sequenced_case_list,
)
from icipredict.cohort.cbioportal.panels import (
    WHOLE_EXOME_VALUES,
    PanelMatrix,
    check_matrix_sequenced,
    panel_name,
    panel_sizes,
    read_gene_panels,
    read_panel_matrix,
    sample_panels,
)
from icipredict.cohort.cbioportal.rules import (
    DFS_STATUS,
    MAX_SAMPLE_ID_LENGTH,
    OS_STATUS,
    VALID_ID,
    check_ids,
    check_statuses,
)

__all__ = [
    "ATTRIBUTES",
    "CBIO_NA",
    "DFS_STATUS",
    "MAX_SAMPLE_ID_LENGTH",
    "META_NAME",
    "OS_STATUS",
    "VALID_ID",
    "WHOLE_EXOME_VALUES",
    "CaseList",
    "MutationProfile",
    "PanelMatrix",
    "StudyFiles",
    "check_case_list",
    "check_ids",
    "check_matrix_sequenced",
    "check_statuses",
    "find_study_files",
    "load_cbioportal",
    "panel_name",
    "panel_sizes",
    "read_cancer_types",
    "read_case_list",
    "read_clinical",
    "read_gene_panels",
    "read_meta",
    "read_mutations",
    "read_panel_matrix",
    "sample_panels",
    "sequenced_case_list",
    "study_cancer_type",
]
