"""The ``processing:`` section of a radiomics settings file: IBSI-1 image processing.

A settings file with this section is processed as the IBSI reference manual defines (chapter
"Image processing") before pyradiomics computes features; without it pyradiomics' own
resampling and binning apply as before. Example (IBSI configuration C)::

    processing:
      aggregation: 3D                   # 2D (per slice, averaged), 2.5D or 3D texture matrices
      interpolation:
        spacing: [2, 2, 2]              # mm, x y z; two values = in-plane (2D) interpolation
        method: linear                  # linear | cubic_spline | nearest
        round_intensities: true         # nearest integer after interpolation (CT: HU)
        mask_method: linear             # linear | nearest
        partial_volume_threshold: 0.5
      resegmentation:
        range: [-1000, 400]             # [a, b]; [a, null] is [a, inf)
        outlier_sigma: null             # 3: drop voxels outside mean +/- 3 sd
      discretisation:
        method: fixed_bin_size          # or fixed_bin_number (with bin_number)
        bin_size: 25
        lower_bound: range              # range (lower bound of resegmentation.range),
                                        # roi_minimum, or a number
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Aggregation = Literal["2D", "2.5D", "3D"]


class Interpolation(BaseModel):
    """Interpolation to a new voxel spacing on IBSI's *align grid centers* grid."""

    model_config = ConfigDict(extra="forbid")

    spacing: list[float] = Field(description="New spacing in mm: [x, y, z], or [x, y] for "
                                 "in-plane (2D) interpolation that keeps the slices.")
    method: Literal["linear", "cubic_spline", "nearest"] = "linear"
    round_intensities: bool = Field(
        default=False, description="Round interpolated intensities to the "
        "nearest integer (IBSI: CT intensities are integer HU).")
    mask_method: Literal["linear", "nearest"] = "linear"
    partial_volume_threshold: float = Field(
        default=0.5, gt=0, le=1,
        description="A voxel is in the interpolated (linear) mask when its "
        "interpolated value is at least this.")

    @field_validator("spacing")
    @classmethod
    def _two_or_three_positive(cls, v: list[float]) -> list[float]:
        if len(v) not in (2, 3) or any(s <= 0 for s in v):
            raise ValueError("spacing must be 2 (in-plane x, y) or 3 (x, y, z) positive numbers")
        return v

    @property
    def in_plane(self) -> bool:
        """True for 2D interpolation (slices are kept as they are)."""
        return len(self.spacing) == 2


class Resegmentation(BaseModel):
    """Re-segmentation of the intensity mask; both methods together keep the intersection."""

    model_config = ConfigDict(extra="forbid")

    range: list[float | None] | None = Field(
        default=None,
        description="[a, b] intensities kept (closed interval); null b means no upper "
        "bound.")
    outlier_sigma: float | None = Field(
        default=None, gt=0, description="Keep intensities within mean +/- this many standard "
        "deviations of the (interpolated) ROI.")

    @field_validator("range")
    @classmethod
    def _interval(cls, v: list[float | None] | None) -> list[float | None] | None:
        if v is None:
            return v
        if len(v) != 2 or (v[0] is None and v[1] is None):
            raise ValueError("range must be [a, b] with at least one bound")
        if v[0] is not None and v[1] is not None and v[0] > v[1]:
            raise ValueError(f"range lower bound {v[0]} is above the upper bound {v[1]}")
        return v

    @property
    def lower(self) -> float | None:
        """Lower bound of the range, if any."""
        return None if self.range is None else self.range[0]


class Discretisation(BaseModel):
    """Fixed bin size (with its lower bound) or fixed bin number discretisation."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["fixed_bin_size", "fixed_bin_number"]
    bin_size: float | None = Field(default=None, gt=0)
    bin_number: int | None = Field(default=None, gt=0)
    lower_bound: float | Literal["range", "roi_minimum"] = Field(
        default="range",
        description="Where fixed-size bins start: the re-segmentation range's lower "
        "bound (IBSI's recommendation), the ROI minimum, or a number.")

    @model_validator(mode="after")
    def _parameter_of_method(self) -> Discretisation:
        if self.method == "fixed_bin_size" and self.bin_size is None:
            raise ValueError("fixed_bin_size needs bin_size")
        if self.method == "fixed_bin_number" and self.bin_number is None:
            raise ValueError("fixed_bin_number needs bin_number")
        return self


class ProcessingSettings(BaseModel):
    """IBSI-1 image processing: interpolation, re-segmentation, discretisation, aggregation."""

    model_config = ConfigDict(extra="forbid")

    aggregation: Aggregation = Field(
        default="3D",
        description="Texture matrices per slice with features averaged over slices (2D), "
        "in-plane matrices merged over slices (2.5D), or volumetric (3D).")
    interpolation: Interpolation | None = None
    resegmentation: Resegmentation = Field(default_factory=Resegmentation)
    discretisation: Discretisation

    @model_validator(mode="after")
    def _bound_exists(self) -> ProcessingSettings:
        d = self.discretisation
        if d.method == "fixed_bin_size" and d.lower_bound == "range" \
                and self.resegmentation.lower is None:
            raise ValueError("discretisation.lower_bound 'range' needs a resegmentation.range "
                             "with a lower bound (or set lower_bound to a number or "
                             "roi_minimum)")
        return self

    def canonical_json(self) -> str:
        """Canonical JSON (sorted keys) of the processing: what :meth:`hash` is taken of."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


__all__ = ["Aggregation", "Discretisation", "Interpolation", "ProcessingSettings",
           "Resegmentation"]
