"""fullcycle: the safety net for teams that build and run their own services."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fullcycle")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
