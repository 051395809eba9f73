"""IBSI-1 image processing in front of the pyradiomics feature engine.

The IBSI reference manual (chapter "Image processing") defines the steps between a loaded image
and its features; this package implements them and leaves the feature arithmetic to pyradiomics:

- :mod:`.settings` -- the ``processing:`` section of a radiomics settings file (pydantic);
- :mod:`.processing` -- interpolation on the *align grid centers* grid, intensity rounding, mask
  interpolation with a partial-volume threshold, range and outlier re-segmentation, and fixed bin
  size / fixed bin number discretisation;
- :mod:`.compute` -- features of a processed ROI through pyradiomics' feature classes (IBSI bins
  handed over as they are), with 2D, 2.5D or 3D texture aggregation;
- :mod:`.check` -- comparison with IBSI reference values (``icipredict features ibsi-check``).

The builtin settings ``ibsi_a`` ... ``ibsi_e`` (``features/settings/ibsi_*.yaml``) are IBSI's
five CT phantom configurations. Nothing is imported here eagerly: the engine module imports
:mod:`.settings` and :mod:`.compute` imports the engine module.
"""
