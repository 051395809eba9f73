"""Experiment configs: the shipped configs validate; bad ones fail naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from icipredict.cohort.schema import CohortError
from icipredict.tracking.experiment import flatten, load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SHIPPED = sorted(EXPERIMENTS.glob("*.yaml"))


def test_the_four_required_experiments_ship():
    names = {p.stem for p in SHIPPED}
    assert {"rf16_reproduction", "loris_reproduction", "pan_cancer_best",
            "demo_synthetic"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiment_validates_with_its_specs(path):
    config = load_experiment(path)
    features, models = config.load_specs()
    assert features.name and len(models) == len(config.models)
    for p in config.model_spec_paths + [config.feature_spec_path] + config.column_map_paths:
        assert p.is_file()
    params = config.flat_params()
    assert params["name"] == config.name
    assert config.tracking.tracking_uri is None or "tracking_uri" in path.read_text()


def test_rf16_config_reads_as_written():
    config = load_experiment(EXPERIMENTS / "rf16_reproduction.yaml")
    assert config.validation.scheme == "split_column" and config.validation.column == "split"
    assert [f.split for f in config.cohort.files] == ["train", "test"]
    assert config.targets == ["response", "os", "pfs"]
    assert config.tracking.tracking_uri is None  # MLFLOW_TRACKING_URI, else the default
    assert len(config.config_hash()) == 12


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "spec.yaml").write_text("name: x\n")
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


BASE = """\
name: demo
cohort:
  store: {centres: [Lyon]}
features: spec.yaml
models: spec.yaml
"""


def test_minimal_config_gets_defaults(tmp_path):
    config = load_experiment(_write(tmp_path, BASE))
    assert config.models == ["spec.yaml"]
    assert config.validation.scheme == "kfold" and config.validation.n_splits == 5
    assert config.tracking.experiment == "icipredict"
    assert config.cohort.store.centres == ["Lyon"]


@pytest.mark.parametrize(("extra", "field", "line", "words"), [
    ("validation:\n  scheme: bootstrap\n", "validation.scheme", 7, "kfold"),
    ("validation:\n  scheme: split_column\n", "validation", 6, "needs 'column'"),
    ("targets: [response, dfs]\n", "targets.1", 6, "'os'"),
    ("tracking:\n  tracking_uri: ./mlruns\n", "tracking.tracking_uri", 7, "sqlite"),
    ("modle: x\n", "modle", 6, "Extra inputs"),
])
def test_bad_field_names_file_line_and_field(tmp_path, extra, field, line, words):
    path = _write(tmp_path, BASE + extra)
    with pytest.raises(CohortError) as info:
        load_experiment(path)
    err = info.value
    assert err.file == str(path) and err.column == field and err.row == line
    assert words in str(err)


def test_both_or_no_cohort_source_is_refused(tmp_path):
    text = BASE.replace("  store: {centres: [Lyon]}\n",
                        "  store: {centres: [Lyon]}\n  files: [maps/lyon.yaml]\n")
    with pytest.raises(CohortError, match="exactly one of 'store'"):
        load_experiment(_write(tmp_path, text))


def test_missing_referenced_file_names_the_field(tmp_path):
    path = _write(tmp_path, BASE.replace("features: spec.yaml", "features: nowhere.yaml"))
    with pytest.raises(CohortError, match="nowhere.yaml") as info:
        load_experiment(path)
    assert info.value.column == "features" and info.value.row == 4


def test_flatten():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 3}]}) == {
        "a.b": 1, "a.c": [1, 2], "d.0.e": 3}


# -- radiomics: settings --------------------------------------------------------------------

def test_radiomics_defaults_are_the_builtin_settings_and_largest_lesion(tmp_path):
    config = load_experiment(_write(tmp_path, BASE))
    assert config.radiomics_settings == "default"
    assert config.radiomics.lesion_rule == "largest" and config.radiomics.is_default()
    params = config.flat_params()
    assert params["radiomics.settings"] == "default"
    assert params["radiomics.lesion_rule"] == "largest"


def test_radiomics_settings_file_resolves_next_to_the_experiment(tmp_path):
    (tmp_path / "radiomics").mkdir()
    settings = tmp_path / "radiomics" / "ct_bw50.yaml"
    settings.write_text("setting: {binWidth: 50}\nfeatureClass: {firstorder: }\n")
    path = _write(tmp_path, BASE + "radiomics:\n  settings: radiomics/ct_bw50.yaml\n"
                  "  lesion_rule: volume_weighted\n")
    config = load_experiment(path)
    assert config.radiomics_settings == settings.resolve()
    assert config.radiomics.lesion_rule == "volume_weighted"
    assert not config.radiomics.is_default()
    builtin = load_experiment(_write(tmp_path, BASE + "radiomics: {settings: ibsi}\n"))
    assert builtin.radiomics_settings == "ibsi"


def test_missing_radiomics_settings_file_names_experiment_and_key(tmp_path):
    path = _write(tmp_path, BASE + "radiomics:\n  settings: radiomics/nowhere.yaml\n")
    with pytest.raises(CohortError, match="nowhere.yaml") as info:
        load_experiment(path)
    err = info.value
    assert err.file == str(path) and err.column == "radiomics.settings" and err.row == 7
    # without the path check, the same error comes when training asks for the settings
    config = load_experiment(path, check_paths=False)
    with pytest.raises(CohortError, match="nowhere.yaml") as later:
        config.radiomics_settings  # noqa: B018
    assert later.value.column == "radiomics.settings"


@pytest.mark.parametrize(("content", "key", "words"), [
    ("setting: {binWidth: -5}\n", "setting.binWidth", "greater than 0"),
    ("setting: {binwidth: 5}\n", "setting.binwidth", "Extra inputs"),
    ("featureClass: {glcm: [NoSuchFeature]}\n", "featureClass", "NoSuchFeature"),
    ("- just a list\n", None, "mapping"),
    ("setting: {binWidth: [\n", None, "expected"),
])
def test_invalid_radiomics_settings_name_both_files_and_keys(tmp_path, content, key, words):
    settings = tmp_path / "bad_settings.yaml"
    settings.write_text(content)
    path = _write(tmp_path, BASE + "radiomics:\n  lesion_rule: largest\n"
                  "  settings: bad_settings.yaml\n")
    with pytest.raises(CohortError) as info:
        load_experiment(path)
    err = info.value
    assert err.file == str(path) and err.column == "radiomics.settings" and err.row == 8
    text = str(err)
    assert str(settings) in text and words in text  # the settings file and its problem  # the settings file and its problem
    if key:
        assert key in text


def test_unknown_lesion_rule_is_refused_at_load(tmp_path):
    path = _write(tmp_path, BASE + "radiomics:\n  lesion_rule: smallest\n")
    with pytest.raises(CohortError, match="largest") as info:
        load_experiment(path)
    assert info.value.column == "radiomics.lesion_rule" and info.value.row == 7


def test_config_hash_of_an_in_memory_default_config_is_unchanged_by_the_radiomics_key():
    from icipredict.tracking.experiment import ExperimentConfig

    data = {"name": "x", "cohort": {"store": {}}, "features": "f.yaml", "models": ["m.yaml"]}
    config = ExperimentConfig.model_validate(data)
    import hashlib

    # the dump as it was before the radiomics and selection keys existed
    old = hashlib.sha256(config.model_dump_json(exclude={"radiomics", "selection"}).encode()
                         ).hexdigest()[:12]
    assert config.config_hash() == old
    other = ExperimentConfig.model_validate({**data, "radiomics": {"settings": "ibsi"}})
    assert other.config_hash() != old
