"""Writing helpers shared by the centres: MAF text, deterministic gzip and XLSX, source columns
in each centre's conventions, observed values, imaging rows and column maps."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

from icipredict.cohort.harmonise import CANCER_TYPES
from icipredict.synthetic.genes import GENOME_WIDE, panel_genes
from icipredict.synthetic.images import ImageTask

MAF_COLUMNS = ["Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome",
               "Start_Position", "End_Position", "Strand", "Variant_Classification",
               "Variant_Type", "Reference_Allele", "Tumor_Seq_Allele1", "Tumor_Seq_Allele2",
               "Tumor_Sample_Barcode", "HGVSp_Short", "t_depth", "t_ref_count", "t_alt_count"]


def maf_text(maf: pd.DataFrame, centre: str, version_line: bool) -> str:
    """A MAF file's text (sorted rows, tab-separated, optionally a ``#version 2.4`` line)."""
    out = maf.sort_values(["Tumor_Sample_Barcode", "Chromosome", "Start_Position"],
                          kind="stable").assign(Entrez_Gene_Id=0, Center=centre,
                                                NCBI_Build="GRCh37", Strand="+")
    # pyarrow writes a 300k-row MAF ~5x faster than DataFrame.to_csv; no quoting, as in MAFs.
    columns = list(MAF_COLUMNS)
    if "Mutation_Status" in out.columns and out["Mutation_Status"].fillna("").astype(bool).any():
        columns.append("Mutation_Status")  # only a centre with germline/somatic calls has one
        out["Mutation_Status"] = out["Mutation_Status"].fillna("")
    buf = io.BytesIO()
    table = pa.Table.from_pandas(out[columns].astype(str), preserve_index=False)
    pacsv.write_csv(table, buf, pacsv.WriteOptions(delimiter="\t", quoting_style="none",
                                                   include_header=False))
    text = "\t".join(columns) + "\n" + buf.getvalue().decode()
    return ("#version 2.4\n" if version_line else "") + text


def write_text(path: Path, text: str, gz: bool = False) -> None:
    """Write ``text`` (gzip with no time or name in the header: the same bytes every time)."""
    data = text.encode()
    if gz:
        # mtime=0 and no file name in the header: byte-identical output for the same seed.
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=1) as fh:
            fh.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


@dataclass
class Col:
    """One source column: canonical name, source name and how the centre writes it."""

    canonical: str
    source: str
    unit: str | None = None
    scale: float = 1.0              # canonical value x scale = source value
    decimals: int | None = None
    values: dict | None = None      # canonical value -> source value
    event_value: int | None = None  # 0 when the source codes 1 = censored

    def spec(self) -> str | dict:
        """The column-map entry for this column."""
        d: dict = {"column": self.source}
        if self.unit:
            d["unit"] = self.unit
        if self.values is not None:
            d["values"] = {v: k for k, v in self.values.items()}
        if self.event_value is not None:
            d["event_value"] = self.event_value
        return d if len(d) > 1 else self.source

    def render(self, s: pd.Series) -> pd.Series:
        """Convert canonical values to the centre's source values."""
        if self.event_value == 0:
            s = 1 - s
        if self.values is not None:
            return s.map(lambda v: self.values.get(v, v) if pd.notna(v) else None)
        if self.scale != 1.0:
            s = s * self.scale
        if self.decimals is not None:
            s = s.round(self.decimals)
            if self.decimals == 0:
                s = s.astype("Int64")
        return s


def render(df: pd.DataFrame, cols: list[Col]) -> tuple[pd.DataFrame, dict]:
    """The centre's source columns of ``df`` and their column-map entries."""
    out = pd.DataFrame({c.source: c.render(df[c.canonical]).to_numpy() for c in cols})
    return out, {c.canonical: c.spec() for c in cols}


def observed(truth: pd.DataFrame) -> pd.DataFrame:
    """Canonical observed values (what the centres measured), rounded like real records."""
    obs = truth.copy()
    obs["patient_id"] = obs["source_patient_id"]
    obs["sample_id"] = obs["source_sample_id"]
    for col, dec in (("age", 1), ("bmi", 1), ("nlr", 2), ("lymphocytes", 2), ("neutrophils", 2),
                     ("albumin", 1), ("platelets", 0), ("haemoglobin", 1), ("ldh", 0),
                     ("os_months", 2), ("pfs_months", 2), ("fcna", 3), ("hed", 2),
                     ("tumour_purity", 2), ("msi_score", 2)):
        obs[col] = obs[col].round(dec)
    obs["tmb"] = obs["tmb_true"].round(2)
    obs["msi_status"] = np.where(obs["msi_h"], "MSI-H", "MSS")
    obs["start_date"] = obs["start_date"].dt.strftime("%Y-%m-%d")
    obs["oncotree"] = obs["cancer_type"]
    obs["cancer_label"] = [CANCER_TYPES[c][0] for c in obs["cancer_type"]]
    return obs


def yaml_dump(path: Path, data: dict) -> None:
    """Write ``data`` as YAML in its own key order."""
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def imaging_tasks(obs: pd.DataFrame, seed: int, folder: Path | None) -> list[ImageTask]:
    """One image task per imaged patient (file paths under ``folder``; None: draw only)."""
    tasks = []
    for row in obs.loc[obs["n_lesions"] > 0].itertuples():
        base = f"images/{scan_stem(row.within_index)}"
        tasks.append(ImageTask(
            seed=seed, centre_index=int(row.centre_index), patient_index=int(row.within_index),
            texture_z=float(row.texture_z), n_lesions=int(row.n_lesions),
            image_path=str(folder / f"{base}_ct.nii.gz") if folder else None,
            mask_paths=tuple(str(folder / f"{base}_L{k + 1}_mask.nii.gz")
                             for k in range(row.n_lesions)) if folder else None))
    return tasks


def scan_stem(within_index: int) -> str:
    """File stem of a patient's images: a per-centre scan number, never the patient ID."""
    return f"scan{int(within_index) + 1:05d}"


def imaging_rows(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per lesion with URIs relative to the centre folder."""
    img = obs.loc[obs["n_lesions"] > 0, ["patient_id", "n_lesions", "within_index"]]
    rep = img.loc[img.index.repeat(img["n_lesions"])].copy()
    rep["k"] = rep.groupby("patient_id").cumcount() + 1
    rep["lesion_id"] = "L" + rep["k"].astype(str)
    rep["modality"] = "CT"
    stem = rep["within_index"].map(scan_stem).astype(object)
    rep["image_uri"] = "images/" + stem + "_ct.nii.gz"
    rep["mask_uri"] = "images/" + stem + "_" + rep["lesion_id"] + "_mask.nii.gz"
    rep["radiomics_uri"] = "radiomics/" + stem + "_" + rep["lesion_id"] + ".csv"
    return rep.reset_index(drop=True)


def panel_gene_frame(panels: list[str]) -> pd.DataFrame:
    """``panel, gene`` rows of the given (targeted) panels."""
    rows = [(p, g) for p in panels if p not in GENOME_WIDE for g in panel_genes(p)]
    return pd.DataFrame(rows, columns=["panel", "gene"])


def column_map(name: str, centre: str, description: str, files: list[dict],
               mutations: str | None) -> dict:
    """A column map document (name, description, centre, files and the MAF)."""
    d = {"name": name, "description": description, "centre": centre, "files": files}
    if mutations:
        d["mutations"] = mutations
    return d


def deterministic_xlsx(data: bytes) -> bytes:
    """Rewrite an XLSX zip with fixed timestamps so the same seed gives the same bytes."""
    fixed = "2019-06-30T00:00:00Z"
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode()
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(<)", rf"\g<1>{fixed}\3",
                              text)
                content = text.encode()
            zi = zipfile.ZipInfo(info.filename, date_time=(2019, 6, 30, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, content)
    return out.getvalue()
