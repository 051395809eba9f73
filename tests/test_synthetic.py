"""The synthetic six-centre network: determinism, formats, truth consistency and loadability."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from icipredict import synthetic as syn
from icipredict.cohort.harmonise import PANELS

N = 200
SEED = 11


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("net")
    syn.generate_network(out, n_patients=N, seed=SEED)
    return out


@pytest.fixture(scope="module")
def truth(net: Path) -> pd.DataFrame:
    return pd.read_parquet(net / "truth.parquet")


@pytest.fixture(scope="module")
def network(net: Path) -> dict:
    return yaml.safe_load((net / "network.yaml").read_text())


def _read_maf(path: Path) -> pd.DataFrame:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        return pd.read_csv(fh, sep="\t", comment="#", dtype=str, keep_default_na=False)


MAFS = {"harbour": "data_mutations_extended.txt", "lindenhof": "lindenhof_mutations.maf.gz",
        "riverside": "riverside.maf", "alpenrose": "alpenrose_wes.maf.gz",
        "coastline": "coastline.maf", "meridian": "meridian.maf.gz"}


def test_same_seed_gives_identical_files(net: Path, tmp_path: Path) -> None:
    syn.generate_network(tmp_path / "again", n_patients=N, seed=SEED)
    first, second = _hashes(net), _hashes(tmp_path / "again")
    assert first.keys() == second.keys()
    differing = [k for k in first if first[k] != second[k]]
    assert differing == []
    # ... and the images, xlsx, gz and parquet files are among what was compared
    names = " ".join(first)
    for part in (".nii.gz", ".xlsx", ".maf.gz", ".parquet"):
        assert part in names


def test_other_seed_gives_other_patients(truth: pd.DataFrame) -> None:
    other = syn.simulate_patients(N, SEED + 1)
    assert not np.allclose(other["tmb_latent"], truth["tmb_latent"])


def test_six_centres_listed_with_existing_sources(net: Path, network: dict,
                                                  truth: pd.DataFrame) -> None:
    names = [c["name"] for c in network["centres"]]
    assert len(names) == 6 and len(set(names)) == 6
    assert set(truth["centre"]) == set(names)
    for c in network["centres"]:
        assert (net / c["source"]).exists()
        assert c["patients"] == int((truth["centre"] == c["name"]).sum())
    assert len(truth) == N and truth["source_patient_id"].is_unique


def test_each_centre_is_in_its_claimed_format(net: Path, network: dict) -> None:
    formats = {c["name"]: c["format"] for c in network["centres"]}
    assert formats == {"harbour": "cbioportal", "lindenhof": "xlsx", "riverside": "csv",
                       "alpenrose": "tsv", "coastline": "parquet", "meridian": "csv"}
    # cBioPortal: meta files, 4 '#' header lines, gene panels and their matrix
    h = net / "harbour"
    assert "cancer_study_identifier" in (h / "meta_study.txt").read_text()
    for name in ("data_clinical_patient.txt", "data_clinical_sample.txt"):
        lines = (h / name).read_text().splitlines()
        assert all(x.startswith("#") for x in lines[:4]) and not lines[4].startswith("#")
        assert lines[4].split("\t")[0] in ("PATIENT_ID", "SAMPLE_ID")
    assert (h / "data_gene_panel_IMPACT468.txt").read_text().startswith("stable_id: IMPACT468")
    matrix = pd.read_csv(h / "data_gene_panel_matrix.txt", sep="\t")
    assert set(matrix["mutations"]) <= {"IMPACT468", "IMPACT341"}
    # XLSX with its sheets; Parquet; CSV/TSV
    from openpyxl import load_workbook

    wb = load_workbook(net / "lindenhof" / "lindenhof_ici.xlsx", read_only=True)
    assert {"Clinical", "Samples", "Imaging"} <= set(wb.sheetnames)
    assert (net / "coastline" / "clinical.parquet").read_bytes()[:4] == b"PAR1"
    assert "\t" in (net / "alpenrose" / "clinical.tsv").read_text().splitlines()[0]
    assert "," in (net / "riverside" / "clinical.csv").read_text().splitlines()[0]
    # every column map names files that exist
    for c in network["centres"]:
        if c["format"] == "cbioportal":
            continue
        cmap = yaml.safe_load((net / c["source"]).read_text())
        folder = (net / c["source"]).parent
        for f in cmap["files"]:
            assert (folder / f["path"]).is_file()
        assert (folder / cmap["mutations"]).is_file()
    for centre in ("lindenhof", "alpenrose", "meridian"):
        assert (net / centre / MAFS[centre]).read_bytes()[:2] == b"\x1f\x8b"
    assert (net / "riverside" / "riverside.maf").read_text().startswith("#version 2.4")


def test_truth_tmb_is_nonsynonymous_count_over_panel_size(net: Path,
                                                          truth: pd.DataFrame) -> None:
    maf = pd.concat([_read_maf(net / c / f) for c, f in MAFS.items()], ignore_index=True)
    germline = maf["Mutation_Status"].fillna("").eq("Germline")
    assert germline.any()  # the BRCA1/2 registry's germline rows: never in TMB
    nonsyn = maf[maf["Variant_Classification"].isin(syn.NONSYNONYMOUS) & ~germline]
    assert (~maf["Variant_Classification"].isin(syn.NONSYNONYMOUS)).sum() > 0  # silent/intron
    assert set(maf["Variant_Classification"]) - set(syn.NONSYNONYMOUS) <= {"Silent", "Intron"}
    counts = nonsyn.groupby("Tumor_Sample_Barcode").size()
    seq = truth[truth["sequenced"]].set_index("source_sample_id")
    got = counts.reindex(seq.index, fill_value=0)
    sizes = seq["panel"].map(PANELS)
    assert np.array_equal(got.to_numpy() / sizes.to_numpy(), seq["tmb_true"].to_numpy())
    assert (seq["n_nonsynonymous"] == np.rint(seq["tmb_latent"] * sizes)).all()
    assert truth.loc[~truth["sequenced"], "tmb_true"].isna().all()
    assert set(counts.index) <= set(seq.index)


def test_genes_come_from_each_sample_panel(net: Path, truth: pd.DataFrame) -> None:
    maf = pd.concat([_read_maf(net / c / f) for c, f in MAFS.items()], ignore_index=True)
    panel_of = truth.set_index("source_sample_id")["panel"].dropna()
    maf["panel"] = maf["Tumor_Sample_Barcode"].map(panel_of)
    for panel, rows in maf.groupby("panel"):
        assert set(rows["Hugo_Symbol"]) <= set(syn.panel_genes(panel))
    small = set(syn.panel_genes("MSK-IMPACT341"))
    assert {"B2M", "JAK1", "MDM4", "PBRM1"}.isdisjoint(small)
    assert set(syn.ICI_GENES) <= set(syn.panel_genes("MSK-IMPACT468"))
    on341 = truth["panel"] == "MSK-IMPACT341"
    assert on341.any() and truth.loc[on341, "mut_B2M"].isna().all()
    assert truth.loc[truth["panel"] == "MSK-IMPACT468", "mut_B2M"].notna().all()


def test_brca_carriers_have_realistic_variants(net: Path, truth: pd.DataFrame) -> None:
    maf = pd.concat([_read_maf(net / c / f) for c, f in MAFS.items()], ignore_index=True)
    somatic = maf["Mutation_Status"].fillna("") != "Germline"
    brca = maf[maf["Hugo_Symbol"].isin(["BRCA1", "BRCA2"])
               & maf["Variant_Classification"].isin(syn.NONSYNONYMOUS) & somatic]
    assert len(brca) >= 1
    assert brca["HGVSp_Short"].str.match(r"^p\.[A-Z]\d+[A-Z*]").all()
    vaf = brca["t_alt_count"].astype(int) / brca["t_depth"].astype(int)
    assert ((vaf > 0) & (vaf < 1)).all()
    observed = (truth[["mut_BRCA1", "mut_BRCA2"]] == 1).any(axis=1)
    assert observed.sum() == brca["Tumor_Sample_Barcode"].nunique()


def test_population_matches_the_real_cohort() -> None:
    t = syn.simulate_patients(20000, 3)
    assert 0.24 <= t["responder"].mean() <= 0.30
    assert 0.33 <= (t["cancer_type"] == "NSCLC").mean() <= 0.39
    assert 0.10 <= (t["cancer_type"] == "MEL").mean() <= 0.16
    assert 3.5 <= t["tmb_latent"].median() <= 7
    assert 3.5 <= t["nlr"].median() <= 5 and 3.6 <= t["albumin"].mean() <= 4.0
    assert 15 <= np.median(t["os_time_true"]) <= 20
    # the known effects act in the stated direction
    hi = t["texture_z"] > 1
    assert t.loc[hi, "responder"].mean() > t.loc[t["texture_z"] < -1, "responder"].mean()
    assert t.loc[t["responder"] == 1, "os_time_true"].median() > \
        2 * t.loc[t["responder"] == 0, "os_time_true"].median()


def test_response_rate_in_range(truth: pd.DataFrame) -> None:
    assert 0.2 <= truth["responder"].mean() <= 0.35
    assert (truth["p_response"] == 1 / (1 + np.exp(-truth["lp_response"]))).all()


def test_unit_and_coding_quirks(net: Path, truth: pd.DataFrame) -> None:
    t = truth.set_index("source_patient_id")
    lh = pd.read_excel(net / "lindenhof" / "lindenhof_ici.xlsx", sheet_name="Clinical")
    assert lh["Albumin (g/L)"].between(15, 55).all()            # g/L, not g/dL
    assert np.allclose(lh["Albumin (g/L)"] / 10, t.loc[lh["Patient ID"], "albumin"], atol=0.06)
    rs = pd.read_csv(net / "riverside" / "clinical.csv")
    assert np.allclose(rs["os_days"] / (365.25 / 12), t.loc[rs["patient"], "os_months"],
                       atol=0.05)                                 # days
    ar = pd.read_csv(net / "alpenrose" / "clinical.tsv", sep="\t")
    assert "nlr" not in {c.lower() for c in ar.columns}
    assert np.allclose(ar["neutrophils_abs"] / ar["lymphocytes_abs"],
                       t.loc[ar["pid"], "nlr"], rtol=0.05)
    assert (ar["os_censored"].to_numpy() == 1 - t.loc[ar["pid"], "os_event"].to_numpy()).all()
    co = pd.read_parquet(net / "coastline" / "clinical.parquet")
    assert "Response" in co and not {"BOR", "bor", "recist_bor"} & set(co.columns)
    me = truth[truth["centre"] == "meridian"]
    assert 0 < (~me["sequenced"]).sum() < len(me)
    assert not (net / "harbour" / "images").exists()
    cmap = yaml.safe_load((net / "alpenrose" / "column_map.yaml").read_text())
    assert cmap["files"][0]["columns"]["os_event"]["event_value"] == 0


def test_images_carry_the_texture_signal(net: Path, truth: pd.DataFrame) -> None:
    sitk = pytest.importorskip("SimpleITK")
    from scipy.stats import spearmanr

    imaged = truth[(truth["n_lesions"] > 0) & (truth["centre"] != "alpenrose")]
    assert 0.2 <= (truth["n_lesions"] > 0).mean() <= 0.5
    assert (imaged["n_lesions"] == 2).any()
    assert (truth.loc[truth["centre"] == "harbour", "n_lesions"] == 0).all()
    sds, zs = [], []
    for row in imaged.itertuples():
        folder = net / row.centre
        stem = row.image_stem
        assert row.source_patient_id not in stem
        img = sitk.ReadImage(str(folder / "images" / f"{stem}_ct.nii.gz"))
        assert img.GetSize() == (32, 32, 16) and img.GetSpacing() == (1.0, 1.0, 2.0)
        assert img.GetPixelIDTypeAsString() == "16-bit signed integer"
        arr = sitk.GetArrayFromImage(img)
        mask = sitk.GetArrayFromImage(sitk.ReadImage(
            str(folder / "images" / f"{stem}_L1_mask.nii.gz")))
        assert set(np.unique(mask)) == {0, 1}
        sds.append(arr[mask == 1].std())
        zs.append(row.texture_z)
    assert spearmanr(sds, zs).statistic > 0.8
    # precomputed radiomics carry the same signal
    ar = truth[(truth["centre"] == "alpenrose") & (truth["n_lesions"] > 0)]
    vals = [pd.read_csv(net / "alpenrose" / "radiomics" / f"{i}_L1.csv")
            .set_index("feature").loc["original_firstorder_StandardDeviation", "value"]
            for i in ar["image_stem"]]
    assert spearmanr(vals, ar["texture_z"]).statistic > 0.8


def test_imaging_tables_point_at_files_relative_to_the_centre(net: Path) -> None:
    img = pd.read_csv(net / "riverside" / "imaging.csv")
    assert img.groupby("patient").size().max() <= 2
    for uri in pd.concat([img["image"], img["mask"]]):
        assert not Path(uri).is_absolute() and (net / "riverside" / uri).is_file()
    ar = pd.read_csv(net / "alpenrose" / "imaging.tsv", sep="\t")
    assert all((net / "alpenrose" / u).is_file() for u in ar["radiomics_file"])


def test_cli_synth(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from icipredict.cli import app

    result = CliRunner().invoke(app, ["cohort", "synth", "--patients", "30", "--seed", "2",
                                      "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "network.yaml").is_file()
    assert len(pd.read_parquet(tmp_path / "s" / "truth.parquet")) == 30


@pytest.mark.parametrize("centre", ["harbour", "lindenhof", "riverside", "alpenrose",
                                    "coastline", "meridian"])
def test_every_centre_loads_and_matches_the_truth(net: Path, network: dict,
                                                  truth: pd.DataFrame, centre: str) -> None:
    loaders = pytest.importorskip("icipredict.cohort.loaders")
    if not hasattr(loaders, "load_source"):
        pytest.skip("cohort.loaders.load_source does not exist yet")
    source = next(c["source"] for c in network["centres"] if c["name"] == centre)
    cohort = loaders.load_source(net / source, centre=centre).validate()
    t = truth[truth["centre"] == centre].set_index("source_patient_id")
    pats = cohort.patients.set_index("patient_id")
    assert set(pats.index) == set(t.index)
    assert (pats["cancer_type"] == t.loc[pats.index, "cancer_type"]).all()
    out = cohort.outcomes.set_index("patient_id").loc[t.index]
    assert (out["os_event"].astype(int) == t["os_event"]).all()
    assert (out["pfs_event"].astype(int) == t["pfs_event"]).all()
    assert (out["responder"].astype(int) == t["responder"]).all()
    assert np.allclose(out["os_months"], t["os_months"], atol=0.05)
    labs = cohort.labs.set_index("patient_id").loc[t.index]
    assert np.allclose(labs["albumin"], t["albumin"], atol=0.06)
    assert np.allclose(labs["nlr"], t["nlr"], rtol=0.05)
    assert set(cohort.samples["sample_id"]) == set(t["source_sample_id"].dropna())
    assert len(cohort.imaging) == int(t["n_lesions"].sum())
    if t["sequenced"].any():
        assert len(cohort.mutations) > 0


def test_images_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    pytest.importorskip("SimpleITK")
    from icipredict.synthetic.images import ImageTask, write_images

    def tasks(folder: Path) -> list[ImageTask]:
        folder.mkdir()
        return [ImageTask(5, 1, i, float(i % 5) - 2, 1 + i % 2, str(folder / f"{i}.nii.gz"),
                          tuple(str(folder / f"{i}_L{k}.nii.gz") for k in (1, 2)[:1 + i % 2]))
                for i in range(50)]

    assert write_images(tasks(tmp_path / "one"), workers=1) == 50
    assert write_images(tasks(tmp_path / "two"), workers=2) == 50
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "two")


def _icipredict_imports(path: Path) -> set[str]:
    """Every ``icipredict`` module a source file imports (top level or inside functions)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.update([node.module] if node.module != "icipredict"
                         else [f"icipredict.{a.name}" for a in node.names])
    return {m for m in found if m.split(".")[0] == "icipredict"}


@pytest.mark.parametrize(("stage", "allowed"), [
    ("cohort", ("icipredict.cohort", "icipredict.config", "icipredict.errors",
                "icipredict._util")),
    ("synthetic", ("icipredict.cohort", "icipredict.synthetic", "icipredict.config",
                   "icipredict.errors", "icipredict._util")),
])
def test_stage_imports(stage: str, allowed: tuple[str, ...]) -> None:
    """cohort imports only itself (never synthetic); synthetic only cohort and itself."""
    package = Path(syn.__file__).parent.parent / stage
    bad = [f"{path.relative_to(package.parent)}: {m}"
           for path in sorted(package.rglob("*.py")) for m in sorted(_icipredict_imports(path))
           if not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert bad == []
