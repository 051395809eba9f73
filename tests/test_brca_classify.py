"""BRCA1/2 registry: classification rules, knowledge base, origin (generated fixtures)."""

from __future__ import annotations

import pandas as pd
import pytest

from icipredict.cohort.brca import (
    CLASSES,
    assign_origin,
    build_registry,
    classify_cna,
    classify_frame,
    classify_variant,
    load_knowledge_base,
)


@pytest.mark.parametrize(("gene", "vc", "hgvsp", "expected"), [
    ("BRCA2", "Nonsense_Mutation", "p.K3326*", ("benign", "curated")),
    ("BRCA2", "Nonsense_Mutation", "p.Lys3326Ter", ("benign", "curated")),
    ("BRCA2", "Nonsense_Mutation", "K3326X", ("benign", "curated")),
    ("BRCA2", "Frame_Shift_Del", "p.E3342Rfs*5", ("likely_benign", "brca2_c_terminal")),
    ("BRCA2", "Nonsense_Mutation", "p.R3128*", ("pathogenic", "truncating")),
    ("BRCA2", "Frame_Shift_Del", "p.K1000fs", ("pathogenic", "truncating")),
    ("BRCA1", "Frame_Shift_Ins", "p.E23fs", ("pathogenic", "truncating")),
    ("BRCA1", "Nonsense_Mutation", "p.Q1756*", ("pathogenic", "truncating")),
    ("BRCA1", "Splice_Site", None, ("pathogenic", "truncating")),
    ("BRCA1", "Splice_Site", "p.X1667_splice", ("pathogenic", "truncating")),
    ("BRCA1", "Missense_Mutation", "p.C61G", ("pathogenic", "curated")),
    ("BRCA2", "Missense_Mutation", "p.D2723H", ("pathogenic", "curated")),
    ("BRCA1", "Missense_Mutation", "p.K1183R", ("benign", "curated")),
    ("BRCA2", "Missense_Mutation", "p.N372H", ("benign", "curated")),
    ("BRCA1", "Missense_Mutation", "p.A2V", ("vus", "vus_default")),
    ("BRCA2", "In_Frame_Del", "p.S1982del", ("vus", "vus_default")),
    ("BRCA1", "Missense_Mutation", "p.C61Y", ("vus", "vus_default")),  # not the curated change
])
def test_rules(gene, vc, hgvsp, expected) -> None:
    assert classify_variant(gene, vc, hgvsp) == expected


def test_knowledge_base_is_versioned_and_every_entry_has_a_source() -> None:
    kb = load_knowledge_base()
    assert kb.version and kb.c_terminal_codon == 3326
    assert kb.entries
    for entry in kb.entries.values():
        assert entry["source"] and entry["classification"] in CLASSES
        assert entry["hgvsc"].startswith("c.")
    assert kb.entries[("BRCA2", "p.K3326*")]["classification"] == "benign"


def test_cna_deep_deletion_is_pathogenic() -> None:
    assert classify_cna(-2) == ("pathogenic", "cna_deep_deletion")
    assert classify_cna(-1) is None and classify_cna(2) is None and classify_cna("NA") is None


def test_frame_carries_rule_version_and_source() -> None:
    df = pd.DataFrame({"gene": ["BRCA2", "BRCA1"], "variant_classification":
                       ["Nonsense_Mutation", "Missense_Mutation"],
                       "hgvsp_short": ["p.K3326*", "p.A2V"]})
    out = classify_frame(df)
    assert out["classification"].tolist() == ["benign", "vus"]
    assert out["rule"].tolist() == ["curated", "vus_default"]
    assert (out["kb_version"] == load_knowledge_base().version).all()
    assert "ENIGMA" in out.loc[0, "kb_source"] and pd.isna(out.loc[1, "kb_source"])


def test_origin_follow_up_only_for_tumour_only_pathogenic() -> None:
    df = pd.DataFrame({"classification": ["pathogenic", "pathogenic", "vus", "likely_pathogenic"],
                       "mutation_status": ["Somatic", None, None, ""]})
    out = assign_origin(df)
    assert out["origin"].tolist() == ["somatic", "somatic_unconfirmed", "somatic_unconfirmed",
                                      "somatic_unconfirmed"]
    assert out["germline_follow_up"].tolist() == [False, True, False, True]
    germ = assign_origin(df, germline=True)
    assert set(germ["origin"]) == {"germline"} and not germ["germline_follow_up"].any()


def registry_tables() -> dict[str, pd.DataFrame]:
    """Two centres; P1 pathogenic frameshift, P2 K3326*, P3 VUS, P4 germline only, P5 none."""
    patients = pd.DataFrame({"centre": ["A", "A", "A", "B", "B"],
                             "patient_id": ["P1", "P2", "P3", "P4", "P5"],
                             "cancer_type": ["NSCLC"] * 5})
    samples = pd.DataFrame({"centre": patients["centre"], "sample_id":
                            ["S1", "S2", "S3", "S4", "S5"], "patient_id": patients["patient_id"]})
    mut = pd.DataFrame({
        "centre": ["A", "A", "A", "A", "B"],
        "sample_id": ["S1", "S1", "S2", "S3", "S5"],
        "hugo_symbol": ["BRCA2", "TP53", "BRCA2", "BRCA1", "BRCA1"],
        "variant_classification": ["Frame_Shift_Del", "Missense_Mutation", "Nonsense_Mutation",
                                   "Missense_Mutation", "Silent"],
        "hgvsp_short": ["p.K1000fs", "p.R175H", "p.K3326*", "p.A2V", "p.A3A"],
        "vaf": [0.4, 0.3, 0.5, 0.2, 0.3]})
    germ = pd.DataFrame({"centre": ["B"], "sample_id": ["S4"], "hugo_symbol": ["BRCA1"],
                         "variant_classification": ["Frame_Shift_Del"],
                         "hgvsp_short": ["p.E23fs"], "vaf": [0.5]})
    outcomes = pd.DataFrame({"centre": patients["centre"], "patient_id": patients["patient_id"],
                             "bor": ["PR", "PD", "SD", "CR", "PD"],
                             "responder": [1, 0, 0, 1, 0]})
    return {"patients": patients, "samples": samples, "mutations": mut,
            "germline_mutations": germ, "treatments": pd.DataFrame(), "outcomes": outcomes}


def test_registry_rows_classified_germline_apart() -> None:
    reg = build_registry(registry_tables())
    som = reg.somatic.set_index("patient_id")
    assert list(som.index) == ["P1", "P2", "P3"]  # silent and TP53 rows are not in it
    assert som.loc["P1", "classification"] == "pathogenic" and som.loc["P1", "germline_follow_up"]
    assert som.loc["P2", "classification"] == "benign"
    assert som.loc["P3", "classification"] == "vus"
    assert {"classification", "rule", "kb_version"} <= set(reg.somatic.columns)
    assert reg.germline["patient_id"].tolist() == ["P4"]
    assert reg.germline["origin"].tolist() == ["germline"]
    assert "P4" not in set(reg.somatic["patient_id"])
    assert som.loc["P1", "bor"] == "PR"


def test_second_hit_from_cna_second_variant_and_loh() -> None:
    tables = registry_tables()
    # P1 (S1): BRCA2 frameshift + shallow loss of BRCA2 -> biallelic via CNA
    # P3 (S3): BRCA1 VUS -> no second-hit question; P6 (S6): two BRCA1 truncations -> biallelic
    # P7 (S7): BRCA2 nonsense, CNA neutral -> monoallelic; P8 (S8): BRCA1 deep deletion only
    # P9 (S9): BRCA1 frameshift, no CNA, LOH call -> biallelic; P10: frameshift, no data
    extra = ["P6", "P7", "P8", "P9", "P10"]
    tables["patients"] = pd.concat([tables["patients"], pd.DataFrame(
        {"centre": "A", "patient_id": extra, "cancer_type": "NSCLC"})], ignore_index=True)
    tables["samples"] = pd.concat([tables["samples"], pd.DataFrame(
        {"centre": "A", "sample_id": [p.replace("P", "S") for p in extra],
         "patient_id": extra})], ignore_index=True)
    tables["mutations"] = pd.concat([tables["mutations"], pd.DataFrame({
        "centre": "A", "sample_id": ["S6", "S6", "S7", "S9", "S10"],
        "hugo_symbol": ["BRCA1", "BRCA1", "BRCA2", "BRCA1", "BRCA1"],
        "variant_classification": ["Nonsense_Mutation", "Frame_Shift_Del", "Nonsense_Mutation",
                                   "Frame_Shift_Ins", "Frame_Shift_Ins"],
        "hgvsp_short": ["p.Q1756*", "p.E23fs", "p.R3128*", "p.E23fs", "p.E23fs"],
        "vaf": 0.4})], ignore_index=True)
    tables["cna"] = pd.DataFrame({"centre": "A", "sample_id": ["S1", "S7", "S8", "S8"],
                                  "hugo_symbol": ["BRCA2", "BRCA2", "BRCA1", "PALB2"],
                                  "cna": [-1, 0, -2, -2]})
    tables["loh"] = pd.DataFrame({"centre": ["A"], "sample_id": ["S9"], "hugo_symbol": ["BRCA1"],
                                  "loh": [1]})
    reg = build_registry(tables).somatic
    by = {(r.patient_id, r.hgvsp_short if isinstance(r.hgvsp_short, str) else "CNA"):
          (r.second_hit, r.allelic_status) for r in reg.itertuples()}
    assert by[("P1", "p.K1000fs")] == ("cna_loss", "biallelic")
    assert by[("P6", "p.Q1756*")] == ("second_variant", "biallelic")
    assert by[("P6", "p.E23fs")] == ("second_variant", "biallelic")
    assert by[("P7", "p.R3128*")] == ("none_seen", "monoallelic")
    assert by[("P8", "CNA")] == ("cna_deep_deletion", "biallelic")
    assert by[("P9", "p.E23fs")] == ("loh", "biallelic")
    assert by[("P10", "p.E23fs")] == ("unknown", "unknown")
    assert pd.isna(by[("P3", "p.A2V")][1])  # a VUS has no allelic status
    deletion = reg[reg["patient_id"] == "P8"].iloc[0]
    assert deletion["classification"] == "pathogenic" and deletion["rule"] == "cna_deep_deletion"
    assert deletion["gene"] == "BRCA1" and len(reg[reg["patient_id"] == "P8"]) == 1  # not PALB2


def test_mutation_status_from_the_maf_reaches_the_registry(tmp_path) -> None:
    """A MAF row confirmed Somatic (matched normal) needs no germline follow-up; the same
    variant from tumour-only sequencing (no Mutation_Status) does; germline stays apart."""
    from icipredict.cohort.brca.registry import registry_from_store
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.schema import Cohort
    from icipredict.cohort.store import CohortStore

    header = ("Hugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\tHGVSp_Short\t"
              "Chromosome\tStart_Position\tReference_Allele\tTumor_Seq_Allele2\tMutation_Status\n")
    rows = ["BRCA2\tS1\tFrame_Shift_Del\tp.K1000fs\t13\t32911000\tA\t-\tSomatic\n",
            "BRCA2\tS2\tFrame_Shift_Del\tp.K1000fs\t13\t32911000\tA\t-\t\n",
            "BRCA1\tS3\tFrame_Shift_Del\tp.E23fs\t17\t41276045\tAG\t-\tGermline\n"]
    maf = tmp_path / "m.maf"
    maf.write_text(header + "".join(rows))
    read = load_source(maf)
    assert read.mutations["mutation_status"].tolist()[:1] == ["Somatic"]
    patients = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "centre": "A",
                             "cancer_type": "BRCA"})
    samples = pd.DataFrame({"sample_id": ["S1", "S2", "S3"], "patient_id": ["P1", "P2", "P3"]})
    cohort = Cohort(patients=patients, samples=samples, mutations=read.mutations,
                    germline_mutations=read.germline_mutations)
    store = CohortStore(tmp_path / "s.duckdb")
    store.ingest(cohort, centre="A", content_hash="h1", source=str(maf))
    reg = registry_from_store(store)
    follow = dict(zip(reg.somatic["mutation_status"].fillna(""),
                      reg.somatic["germline_follow_up"], strict=True))
    assert follow == {"Somatic": False, "": True}
    assert len(reg.germline) == 1 and not reg.germline["germline_follow_up"].any()
