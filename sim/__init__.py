"""jiefang: agent-based simulation of tiered community emergency response on Mesa."""

from importlib import metadata

try:
    __version__ = metadata.version("jiefang")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
