"""Where skinbench keeps data it generates or caches."""

import os
from pathlib import Path


def cache_root() -> Path:
    """Root of skinbench's caches: ``$SKINBENCH_CACHE``, else ``~/.cache/skinbench``."""
    root = os.environ.get("SKINBENCH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "skinbench"
