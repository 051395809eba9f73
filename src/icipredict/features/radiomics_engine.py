"""Radiomics engines: one interface, pyradiomics as the default implementation.

An engine turns one image and one lesion mask into ``{feature name: value}``. Everything around
it (provenance, cache, parallel cohort runs, lesion aggregation) lives in
:mod:`icipredict.features.imaging` and only talks to the :class:`RadiomicsEngine` protocol, so a
second engine (another library, a GPU implementation, a test spy) drops in without changes there.

Settings are pyradiomics parameter files (YAML with ``setting`` / ``imageType`` /
``featureClass`` sections) validated by :class:`RadiomicsSettings`; their canonical JSON form is
hashed into :attr:`RadiomicsEngine.settings_hash`, which keys the feature cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from icipredict.cohort.schema import CohortError
from icipredict.features.ibsi.settings import ProcessingSettings

logger = logging.getLogger(__name__)

#: Folder holding the settings YAMLs shipped with the package.
SETTINGS_DIR = Path(__file__).resolve().parent / "settings"

#: Named settings files shipped with the package.
BUILTIN_SETTINGS = {
    "default": SETTINGS_DIR / "pyradiomics_default.yaml",
    "ibsi": SETTINGS_DIR / "ibsi.yaml",
    # IBSI-1 CT phantom configurations A-E (features/ibsi: IBSI processing before pyradiomics).
    **{f"ibsi_{c}": SETTINGS_DIR / f"ibsi_{c}.yaml" for c in "abcde"},
}

#: pyradiomics ``setting`` keys that a ``processing:`` section replaces (refused alongside it).
PROCESSING_REPLACES = ("binWidth", "binCount", "resampledPixelSpacing", "interpolator",
                       "resegmentRange", "resegmentMode", "resegmentShape", "removeOutliers",
                       "normalize", "normalizeScale", "force2D", "force2Ddimension", "preCrop")


class ImageError(CohortError):
    """An image or mask that cannot be used (unreadable, empty mask, geometry mismatch)."""


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------

class ExtractionSettings(BaseModel):
    """The ``setting`` section of a pyradiomics parameter file (``None`` = pyradiomics default).

    Only the keys pyradiomics' own parameter schema knows are accepted, so a typo fails loudly
    instead of silently falling back to a default.
    """

    model_config = ConfigDict(extra="forbid")

    minimumROIDimensions: int | None = Field(None, ge=1, le=3)
    minimumROISize: int | None = Field(None, gt=0)
    geometryTolerance: float | None = Field(None, gt=0)
    correctMask: bool | None = None
    additionalInfo: bool | None = None
    label: int | None = Field(None, gt=0)
    label_channel: int | None = Field(None, ge=0)
    binWidth: float | None = Field(None, gt=0)
    binCount: int | None = Field(None, gt=0)
    normalize: bool | None = None
    normalizeScale: float | None = Field(None, gt=0)
    removeOutliers: float | None = Field(None, gt=0)
    resampledPixelSpacing: list[float] | None = None
    interpolator: str | int | None = None
    padDistance: int | None = Field(None, ge=0)
    distances: list[int] | None = None
    force2D: bool | None = None
    force2Ddimension: int | None = Field(None, ge=0, le=2)
    resegmentRange: list[float] | None = None
    resegmentMode: str | None = Field(None, pattern="^(absolute|relative|sigma)$")
    resegmentShape: bool | None = None
    preCrop: bool | None = None
    sigma: list[float] | None = None
    start_level: int | None = Field(None, ge=0)
    level: int | None = Field(None, gt=0)
    wavelet: str | None = None
    gradientUseSpacing: bool | None = None
    lbp2DRadius: float | None = Field(None, gt=0)
    lbp2DSamples: int | None = Field(None, ge=1)
    lbp2DMethod: str | None = Field(None, pattern="^(default|ror|uniform|var)$")
    lbp3DLevels: int | None = Field(None, ge=1)
    lbp3DIcosphereRadius: float | None = Field(None, gt=0)
    lbp3DIcosphereSubdivision: int | None = Field(None, ge=0)
    voxelArrayShift: int | None = None
    symmetricalGLCM: bool | None = None
    weightingNorm: str | None = Field(None, pattern="^(manhattan|euclidean|infinity|no_weighting)$")
    gldm_a: int | None = Field(None, ge=0)

    @field_validator("distances")
    @classmethod
    def _positive_distances(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(d <= 0 for d in v):
            raise ValueError("distances must be positive integers")
        return v


def _original_only() -> dict[str, dict[str, Any] | None]:
    """Default ``imageType``: the original image only."""
    return {"Original": {}}


class RadiomicsSettings(BaseModel):
    """A pyradiomics parameter file: ``setting``, ``imageType`` and ``featureClass`` sections.

    An optional ``processing`` section (:class:`~icipredict.features.ibsi.settings.
    ProcessingSettings`) runs IBSI-1 image processing before the features; it replaces
    pyradiomics' resampling, re-segmentation, binning and 2D keys (:data:`PROCESSING_REPLACES`,
    refused alongside it) and needs ``imageType: {Original: {}}``.

    ``featureClass`` maps a class name (``shape``, ``firstorder``, ``glcm``, ...) to ``None``
    (all its default features) or a list of feature names; class and feature names are checked
    against the installed pyradiomics.
    """

    model_config = ConfigDict(extra="forbid")

    setting: ExtractionSettings = Field(default_factory=ExtractionSettings)
    imageType: dict[str, dict[str, Any] | None] = Field(default_factory=_original_only)
    featureClass: dict[str, list[str] | None] = Field(default_factory=dict)
    processing: ProcessingSettings | None = None

    @field_validator("imageType")
    @classmethod
    def _known_image_types(cls, v: dict[str, Any]) -> dict[str, Any]:
        known = _pyradiomics_image_types()
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown imageType(s) {unknown}; expected some of {sorted(known)}")
        if not v:
            raise ValueError("imageType must enable at least one image type (e.g. Original: {})")
        return {k: (val or {}) for k, val in v.items()}

    @field_validator("featureClass")
    @classmethod
    def _known_features(cls, v: dict[str, list[str] | None]) -> dict[str, list[str] | None]:
        classes = _pyradiomics_feature_names()
        for name, feats in v.items():
            if name not in classes:
                raise ValueError(f"unknown featureClass {name!r}; expected one of {sorted(classes)}")
            bad = sorted(set(feats or []) - set(classes[name]))
            if bad:
                raise ValueError(f"featureClass {name}: unknown feature(s) {bad}")
        return v

    @model_validator(mode="after")
    def _processing_owns_its_keys(self) -> RadiomicsSettings:
        if self.processing is None:
            return self
        clash = [k for k in PROCESSING_REPLACES if getattr(self.setting, k) is not None]
        if clash:
            raise ValueError(f"setting {clash} cannot be combined with a processing section "
                             "(it sets interpolation, re-segmentation and discretisation)")
        if set(self.imageType) != {"Original"}:
            raise ValueError("a processing section computes features of the original image "
                             "only: imageType must be {Original: {}}")
        return self

    def to_pyradiomics(self) -> dict[str, Any]:
        """Return the parameter dict pyradiomics' ``RadiomicsFeatureExtractor`` accepts."""
        return {
            "setting": self.setting.model_dump(exclude_none=True),
            "imageType": dict(self.imageType),
            "featureClass": {k: (list(v) if v else []) for k, v in self.featureClass.items()},
        }

    def canonical_json(self) -> str:
        """Canonical JSON (sorted keys, defaults omitted): the text the settings hash is taken of.

        The ``processing`` section is included only when present, so settings without it hash
        as they always did."""
        data = self.to_pyradiomics()
        if self.processing is not None:
            data["processing"] = self.processing.model_dump(mode="json")
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=1)
def _pyradiomics_image_types() -> tuple[str, ...]:
    import radiomics

    return tuple(radiomics.getImageTypes())


@lru_cache(maxsize=1)
def _pyradiomics_feature_names() -> dict[str, tuple[str, ...]]:
    import radiomics

    return {name: tuple(cls.getFeatureNames()) for name, cls in radiomics.getFeatureClasses().items()}


def load_settings(source: str | Path | dict[str, Any] | RadiomicsSettings) -> RadiomicsSettings:
    """Load and validate radiomics settings.

    Parameters
    ----------
    source
        A path to a pyradiomics-style YAML, a builtin name (``"default"``, ``"ibsi"``), a dict with
        the same sections, or an already validated :class:`RadiomicsSettings`.

    Returns
    -------
    RadiomicsSettings

    Raises
    ------
    CohortError
        When the file is missing or a section/key/value is invalid (the message names the key).
    """
    if isinstance(source, RadiomicsSettings):
        return source
    file: Path | None = None
    if isinstance(source, dict):
        raw = source
    else:
        file = BUILTIN_SETTINGS.get(str(source), Path(source))
        if not file.is_file():
            raise CohortError(
                f"radiomics settings file not found (expected a YAML or one of "
                f"{sorted(BUILTIN_SETTINGS)})", file=file)
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise CohortError("radiomics settings must be a mapping with setting/imageType/"
                          "featureClass sections", file=file)
    # pyradiomics writes "shape:" (null) to mean "all features of the class".
    try:
        return RadiomicsSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CohortError(f"invalid radiomics settings at {where}: {first['msg']}",
                          file=file, column=where) from exc


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------

def read_image(path: str | Path):
    """Read a NIfTI/NRRD/any SimpleITK file, or a DICOM series from a folder.

    Parameters
    ----------
    path
        File path, or a folder holding one DICOM series (read with ``ImageSeriesReader``; when
        the folder holds several series the one with the most slices is read).

    Returns
    -------
    SimpleITK.Image

    Raises
    ------
    ImageError
        When the file is missing, unreadable or the folder holds no DICOM series.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise ImageError("image file not found", file=path)
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise ImageError("folder holds no DICOM series", file=path)
            files = max((reader.GetGDCMSeriesFileNames(str(path), s) for s in series), key=len)
            if len(series) > 1:
                logger.warning("%s holds %d DICOM series; reading the largest (%d slices)",
                               path, len(series), len(files))
            reader.SetFileNames(files)
            return reader.Execute()
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        # SimpleITK's message is long C++ text; keep its first informative line.
        detail = next((ln.strip() for ln in str(exc).splitlines() if "ERROR" in ln or ln.strip()),
                      str(exc))
        raise ImageError(f"cannot read image ({detail[:200]})", file=path) from exc


def check_image_mask(image, mask, *, label: int, mask_path: str | Path | None = None,
                     tolerance: float = 1e-4) -> int:
    """Check that ``mask`` fits ``image`` and holds voxels of ``label``; return their count.

    Raises
    ------
    ImageError
        Geometry mismatch (size, spacing, origin, direction) or an empty label.
    """
    import SimpleITK as sitk

    problems = []
    if image.GetSize() != mask.GetSize():
        problems.append(f"size {mask.GetSize()} vs image {image.GetSize()}")
    for what in ("Spacing", "Origin", "Direction"):
        a = np.asarray(getattr(image, f"Get{what}")())
        b = np.asarray(getattr(mask, f"Get{what}")())
        if a.shape != b.shape or not np.allclose(a, b, atol=tolerance * max(1.0, np.abs(a).max())):
            problems.append(f"{what.lower()} {tuple(np.round(b, 4))} vs image {tuple(np.round(a, 4))}")
    if problems:
        raise ImageError("mask geometry does not match the image: " + "; ".join(problems),
                         file=mask_path)
    n = int((sitk.GetArrayViewFromImage(mask) == label).sum())
    if n == 0:
        raise ImageError(f"mask is empty: no voxel has label {label}", file=mask_path)
    return n


# --------------------------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------------------------

@runtime_checkable
class RadiomicsEngine(Protocol):
    """What :func:`icipredict.features.imaging.extract_cohort` needs from a radiomics engine.

    Attributes
    ----------
    name
        Engine name recorded in provenance (e.g. ``"pyradiomics"``).
    version
        Engine version recorded in provenance.
    settings_hash
        Hash of the engine's settings; features computed with other settings never share a
        cache entry.
    """

    name: str
    settings_hash: str

    @property
    def version(self) -> str:
        """Engine version (read only: a plain attribute or a property)."""
        ...

    def extract(self, image_path: str | Path, mask_path: str | Path,
                label: int = 1) -> dict[str, float]:
        """Return ``{feature name: value}`` for the voxels of ``label`` in the mask."""
        ...


class PyRadiomicsEngine:
    """The default engine: pyradiomics (``pyradiomics-bhklab`` distribution).

    Parameters
    ----------
    settings
        Settings YAML path, builtin name (``"default"``, ``"ibsi"``), dict or
        :class:`RadiomicsSettings`.

    Notes
    -----
    Features come back in pyradiomics naming (``original_glcm_Contrast``); pyradiomics'
    ``diagnostics_*`` entries are dropped. The engine is picklable (the pyradiomics extractor is
    built lazily in each worker process).
    """

    name = "pyradiomics"

    def __init__(self, settings: str | Path | dict[str, Any] | RadiomicsSettings = "default"):
        self.settings = load_settings(settings)
        self.settings_hash = hashlib.sha256(
            (self.name + "\n" + self.settings.canonical_json()).encode()).hexdigest()[:16]
        self._extractor = None

    @property
    def version(self) -> str:
        """Installed pyradiomics version."""
        import radiomics

        return str(radiomics.__version__).lstrip("v")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_extractor"] = None
        return state

    def _get_extractor(self):
        if self._extractor is None:
            import radiomics
            from radiomics import featureextractor

            # pyradiomics logs every feature at INFO, on its own handler and (propagating) on the
            # application's: quiet both.
            radiomics.setVerbosity(logging.ERROR)
            logging.getLogger("radiomics").setLevel(logging.ERROR)
            self._extractor = featureextractor.RadiomicsFeatureExtractor(
                self.settings.to_pyradiomics())
        return self._extractor

    def extract(self, image_path: str | Path, mask_path: str | Path,
                label: int = 1) -> dict[str, float]:
        """Compute the configured features.

        Parameters
        ----------
        image_path
            NIfTI/NRRD file or DICOM series folder (``folder#<SeriesInstanceUID>`` when it
            holds several).
        mask_path
            Label map on the image's grid, or a DICOM RTSTRUCT/SEG (``path#<ROI or segment>``);
            see :func:`icipredict.features.dicom_io.read_engine_inputs`.
        label
            Mask value of the lesion (label maps).

        Returns
        -------
        dict
            ``{pyradiomics feature name: float}``.

        Raises
        ------
        ImageError
            Unreadable image/mask, geometry mismatch, empty mask, or a pyradiomics failure.
        """
        from icipredict.features.dicom_io import read_engine_inputs

        tol = self.settings.setting.geometryTolerance or 1e-4
        image, mask, label = read_engine_inputs(image_path, mask_path, label=label, tolerance=tol)
        if self.settings.processing is not None:
            return self._extract_processed(image, mask, label, image_path)
        try:
            result = self._get_extractor().execute(image, mask, label=label)
        except (ValueError, RuntimeError, IndexError) as exc:
            raise ImageError(f"pyradiomics failed: {exc}", file=image_path) from exc
        out: dict[str, float] = {}
        for key, value in result.items():
            if key.startswith("diagnostics_"):
                continue
            try:
                out[key] = float(value)
            except (TypeError, ValueError):
                logger.debug("dropping non-numeric pyradiomics output %s", key)
        return out

    def _extract_processed(self, image, mask, label: int,  # noqa: ANN001 - SimpleITK images
                           image_path: str | Path) -> dict[str, float]:
        """IBSI processing (the settings' ``processing`` section), then pyradiomics' classes."""
        import radiomics

        from icipredict.features.ibsi.compute import extract_processed

        radiomics.setVerbosity(logging.ERROR)
        logging.getLogger("radiomics").setLevel(logging.ERROR)
        try:
            return extract_processed(image, mask, label=label, settings=self.settings)
        except (ValueError, RuntimeError, IndexError) as exc:
            raise ImageError(f"IBSI processing failed: {exc}", file=image_path) from exc
