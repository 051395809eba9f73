"""icipredict: response and survival under immune checkpoint inhibitors, for a network of centres."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("icipredict")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
