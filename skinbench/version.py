"""skinbench's version: the installed distribution's (pyproject.toml's), read once."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skinbench")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
