"""Board radiomics: a record's image + mask files give the features training would compute;
unusable images are record problems naming the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from icipredict.features.spec import FeatureSpec
from icipredict.predict.radiomics import imaging_radiomics, with_image_radiomics
from icipredict.predict.record import RecordError, parse_record
from icipredict.synthetic.images import SPACING, ImageTask, write_images

BASE = {"patient_id": "IMG-1", "cancer_type": "NSCLC"}


@pytest.fixture(scope="module")
def lesions(tmp_path_factory) -> dict[str, Path]:
    """A synthetic CT-like image with two lesion masks, an empty mask and a misfit mask."""
    import SimpleITK as sitk

    root = tmp_path_factory.mktemp("images")
    task = ImageTask(seed=3, centre_index=0, patient_index=0, texture_z=0.8, n_lesions=2,
                     image_path=str(root / "ct.nii.gz"),
                     mask_paths=(str(root / "m1.nii.gz"), str(root / "m2.nii.gz")))
    write_images([task])
    mask = sitk.ReadImage(str(root / "m1.nii.gz"))
    empty = sitk.GetImageFromArray(np.zeros_like(sitk.GetArrayFromImage(mask)))
    empty.CopyInformation(mask)
    sitk.WriteImage(empty, str(root / "empty.nii.gz"))
    misfit = sitk.GetImageFromArray(sitk.GetArrayFromImage(mask))
    misfit.SetSpacing(tuple(2 * s for s in SPACING))
    sitk.WriteImage(misfit, str(root / "misfit.nii.gz"))
    return {"root": root, "image": root / "ct.nii.gz", "m1": root / "m1.nii.gz",
            "m2": root / "m2.nii.gz", "empty": root / "empty.nii.gz",
            "misfit": root / "misfit.nii.gz"}


def test_record_images_give_the_training_radiomics(lesions, tmp_path):
    """Same numbers as the training runs' own radiomics step on the same files (two lesions:
    the largest one is kept, as in training)."""
    from icipredict.cohort.schema import Cohort, empty_table
    from icipredict.training.data import cohort_radiomics as _radiomics

    rec = parse_record({**BASE, "images": [
        {"image": str(lesions["image"]), "mask": str(lesions["m1"]), "lesion_id": "a"},
        {"image": "ct.nii.gz", "mask": "m2.nii.gz", "modality": "ct"}]})
    [filled] = with_image_radiomics([rec], base_dir=lesions["root"], cache=tmp_path / "c1")
    imaging = pd.DataFrame({
        "patient_id": ["IMG-1", "IMG-1"], "lesion_id": ["L1", "L2"], "modality": ["CT", "CT"],
        "image_uri": [str(lesions["image"])] * 2,
        "mask_uri": [str(lesions["m1"]), str(lesions["m2"])], "radiomics_uri": [None, None]})
    cohort = Cohort(imaging=imaging, radiomics=empty_table("radiomics"))
    spec = FeatureSpec(name="t", modalities=["clinical", "imaging"])
    train = _radiomics(cohort, spec, tmp_path / "c2", False).loc["IMG-1"]
    got = pd.Series(filled.radiomics).add_prefix("radiomics_")
    assert len(got) > 50
    expected = train.dropna()
    assert set(got.index) == set(expected.index)
    np.testing.assert_allclose(got[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-9)
    # the largest lesion's volume, not the other one's
    vols = [with_image_radiomics([parse_record({**BASE, "images": [
        {"image": str(lesions["image"]), "mask": str(lesions[m])}]})], cache=tmp_path / "c1")[0]
        .radiomics["original_shape_VoxelVolume"] for m in ("m1", "m2")]
    assert filled.radiomics["original_shape_VoxelVolume"] == max(vols) != min(vols)


def test_given_radiomics_keep_their_value(lesions, tmp_path):
    rec = parse_record({**BASE, "radiomics": {"original_firstorder_Mean": 12.5},
                        "images": [{"image": str(lesions["image"]), "mask": str(lesions["m1"])}]})
    [filled] = with_image_radiomics([rec], cache=tmp_path)
    assert filled.radiomics["original_firstorder_Mean"] == 12.5
    assert "original_glcm_Contrast" in filled.radiomics
    # records without images pass through untouched
    plain = parse_record(BASE)
    assert with_image_radiomics([plain])[0] is plain


def test_unusable_images_are_record_problems_all_at_once(lesions, tmp_path):
    img = str(lesions["image"])
    rec = parse_record({**BASE, "images": [
        {"image": str(lesions["root"] / "nope.nii.gz"), "mask": str(lesions["m1"])},
        {"image": img, "mask": str(lesions["empty"])},
        {"image": img, "mask": str(lesions["misfit"])},
        {"image": img, "mask": str(lesions["m1"])}]})
    with pytest.raises(RecordError) as info:
        with_image_radiomics([rec], cache=tmp_path)
    problems = {p["field"]: p["message"] for p in info.value.problems}
    assert set(problems) == {"images.0.image", "images.1.mask", "images.2.mask"}
    assert "not found" in problems["images.0.image"]
    assert "empty" in problems["images.1.mask"]
    assert "geometry" in problems["images.2.mask"] and "spacing" in problems["images.2.mask"]
    # in a list, the record is named
    with pytest.raises(RecordError) as info:
        with_image_radiomics([parse_record(BASE), rec], labels=["record 1", "record 2"],
                             cache=tmp_path)
    assert all(p["field"].startswith("record 2.images.") for p in info.value.problems)


def test_images_outside_the_allowed_folder_are_refused(lesions, tmp_path):
    rec = parse_record({**BASE, "images": [
        {"image": str(lesions["image"]), "mask": "../elsewhere/m.nii.gz"}]})
    with pytest.raises(RecordError) as info:
        with_image_radiomics([rec], base_dir=tmp_path, allowed_root=tmp_path)
    fields = {p["field"] for p in info.value.problems}
    assert fields == {"images.0.image", "images.0.mask"}


def test_score_fills_radiomics_before_the_model(lesions, tmp_path, monkeypatch):
    """score() hands the model a frame with the image's radiomics columns."""
    from icipredict.predict import scorer
    from icipredict.predict.scoring import loader

    seen = {}

    class Model:
        domain, risk_groups = {}, {}
        info = scorer.ModelInfo(uri="m")

        def predict(self, frame, **kw):
            seen["frame"] = frame
            return pd.DataFrame({"response_probability": [0.3]}, index=frame.index)

    monkeypatch.setattr(loader, "load_board_model", lambda uri: Model())
    s = scorer.score({**BASE, "images": [{"image": "ct.nii.gz", "mask": "m1.nii.gz"}]},
                     "m", image_dir=lesions["root"], cache_dir=tmp_path)
    frame = seen["frame"]
    assert frame.loc["IMG-1", "radiomics_original_shape_VoxelVolume"] > 0
    assert s.completeness["imaging"] == 1.0 and s.response.probability == 0.3
    with pytest.raises(RecordError):
        scorer.score({**BASE, "images": [{"image": "ct.nii.gz", "mask": "empty.nii.gz"}]},
                     "m", image_dir=lesions["root"], cache_dir=tmp_path)
    assert not [w for w in s.warnings if w.code == "radiomics_settings_mismatch"]


def test_score_warns_when_the_model_recorded_other_radiomics(lesions, tmp_path, monkeypatch):
    """A model whose radiomics.json names another engine version is scored with a board
    warning (not silently); a record without images gets no such warning."""
    from icipredict.predict import scorer
    from icipredict.predict.scoring import loader
    from icipredict.registry.bundle import radiomics_record

    class Model:
        domain, risk_groups = {}, {}
        info = scorer.ModelInfo(uri="m")
        radiomics = {**radiomics_record(), "engine_version": "0.0.1"}

        def predict(self, frame, **kw):
            return pd.DataFrame({"response_probability": [0.3] * len(frame)}, index=frame.index)

    monkeypatch.setattr(loader, "load_board_model", lambda uri: Model())
    s = scorer.score({**BASE, "images": [{"image": "ct.nii.gz", "mask": "m1.nii.gz"}]},
                     "m", image_dir=lesions["root"], cache_dir=tmp_path)
    [warn] = [w for w in s.warnings if w.code == "radiomics_settings_mismatch"]
    assert "0.0.1" in warn.message
    batch = scorer.score_batch(
        [{**BASE, "images": [{"image": "ct.nii.gz", "mask": "m1.nii.gz"}]},
         {**BASE, "patient_id": "PLAIN"}], "m", image_dir=lesions["root"], cache_dir=tmp_path)
    codes = {b.patient_id: [w.code for w in b.warnings] for b in batch}
    assert "radiomics_settings_mismatch" in codes["IMG-1"]
    assert "radiomics_settings_mismatch" not in codes["PLAIN"]


def test_stored_rows_without_images_give_no_matrix():
    from icipredict.features.imaging import ERROR_COLUMNS

    wide, errors = imaging_radiomics(pd.DataFrame(columns=["patient_id", "lesion_id"]))
    assert wide is None and list(errors.columns) == ERROR_COLUMNS


# ------------------------------------------------------------------ the model's recorded settings

COARSE = (
    "setting:\n  binWidth: 100\nimageType:\n  Original: {}\nfeatureClass:\n  shape:\n  glcm:\n")


def test_model_radiomics_rebuilds_the_recorded_engine(tmp_path):
    """The builtin default and a settings file (from its recorded text, even once the file is
    gone) give the engine training used: same settings hash, rule kept, nothing to warn."""
    from icipredict.features.radiomics_engine import PyRadiomicsEngine
    from icipredict.predict.radiomics import model_radiomics
    from icipredict.registry.bundle import radiomics_record

    record = radiomics_record("default", "largest")
    assert record["settings_source"] == "default"
    engine, rule, problems = model_radiomics(record)
    assert (engine.settings_hash, rule, problems) == (
        PyRadiomicsEngine("default").settings_hash, "largest", [])
    path = tmp_path / "coarse.yaml"
    path.write_text(COARSE)
    record = radiomics_record(path, "volume_weighted")
    assert record["settings_source"] == {"file": "coarse.yaml", "content": COARSE}
    path.unlink()
    engine, rule, problems = model_radiomics(record)
    assert engine.settings_hash == record["settings_hash"] != PyRadiomicsEngine().settings_hash
    assert (rule, problems) == ("volume_weighted", [])


def test_model_radiomics_warns_on_another_version_or_hash():
    from icipredict.predict.radiomics import TRAINING_RULE, model_radiomics
    from icipredict.registry.bundle import radiomics_record

    for old in (None, {}):  # models before radiomics.json: the training defaults, silently
        engine, rule, problems = model_radiomics(old)
        assert (rule, problems) == (TRAINING_RULE, [])
        assert engine.settings_hash == radiomics_record()["settings_hash"]
    record = radiomics_record()
    _, _, problems = model_radiomics({**record, "engine_version": "0.0.1"})
    assert len(problems) == 1 and "0.0.1" in problems[0] and record["engine_version"] in problems[0]
    _, _, problems = model_radiomics({**record, "settings_hash": "0123456789abcdef"})
    assert len(problems) == 1 and "0123456789abcdef" in problems[0]
    _, rule, problems = model_radiomics({**record, "rule": "smallest"})
    assert rule == TRAINING_RULE and "smallest" in problems[0]
    engine, _, problems = model_radiomics(
        {**record, "settings_source": {"file": "x.yaml", "content": "setting: [1, 2]"}})
    assert problems and "x.yaml" in problems[0]
    assert engine.settings_hash == record["settings_hash"]  # fell back to the default


def test_recorded_settings_change_the_features(lesions, tmp_path):
    """Features follow the recorded settings: a coarser bin width gives other GLCM values."""
    from icipredict.predict.radiomics import model_radiomics
    from icipredict.registry.bundle import radiomics_record

    path = tmp_path / "coarse.yaml"
    path.write_text(COARSE)
    rec = parse_record({**BASE, "images": [
        {"image": str(lesions["image"]), "mask": str(lesions["m1"])}]})
    got = {}
    for name, record in (("default", radiomics_record()), ("coarse", radiomics_record(path))):
        engine, rule, _ = model_radiomics(record)
        [filled] = with_image_radiomics([rec], cache=tmp_path / "cache", engine=engine,
                                        rule=rule)
        got[name] = filled.radiomics
    feature = "original_glcm_JointEntropy"
    assert set(got["coarse"]) <= set(got["default"]) and feature in got["coarse"]
    assert got["coarse"][feature] < got["default"][feature]  # fewer grey levels, less entropy


@pytest.mark.slow
def test_stored_patient_uses_the_models_record_and_old_models_still_score(tmp_path_factory):
    """The trained model scored from a local copy: as logged (no warning), without
    radiomics recorded (as a spec without imaging: the defaults, same numbers) and with another recorded engine
    version (same numbers, plus the board warning)."""
    import json
    import shutil

    import mlflow

    from icipredict.predict.scorer import score_stored
    from icipredict.registry.bundle import MANIFEST, Bundle
    from test_runs import trained

    demo = trained(tmp_path_factory)
    local = Path(mlflow.artifacts.download_artifacts(demo["result"].model_uri))
    cohort = demo["store"].cohort()
    pid = str(cohort.imaging.dropna(subset=["image_uri"])["patient_id"].iloc[0])
    cache = demo["root"] / "cache"
    models = {}
    for kind in ("logged", "old", "other_version"):
        folder = tmp_path_factory.mktemp(kind) / "model"
        shutil.copytree(local, folder)
        bundle = Bundle.of_model(folder)
        rj = bundle.folder / bundle.manifest["files"]["radiomics"]
        if kind == "old":  # a bundle of a spec without imaging records no radiomics
            manifest = {**bundle.manifest, "files": {
                k: v for k, v in bundle.manifest["files"].items() if k != "radiomics"}}
            (bundle.folder / MANIFEST).write_text(json.dumps(manifest))
            rj.unlink()
        elif kind == "other_version":
            rj.write_text(json.dumps({**json.loads(rj.read_text()), "engine_version": "0.0.1"}))
        models[kind] = score_stored(pid, demo["store"].path, str(folder), cache_dir=cache,
                                    explain=False)
    for kind, s in models.items():
        assert s.response.probability == pytest.approx(models["logged"].response.probability)
        assert s.completeness["imaging"] == 1.0, kind
        codes = [w.code for w in s.warnings]
        assert ("radiomics_settings_mismatch" in codes) is (kind == "other_version"), kind
