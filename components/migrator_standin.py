"""STAND-IN (helper E2, branch app-path) for ``components.psycopg2_layer.build_migrator_layer`` (helper E1).

To be deleted when E1's branch is merged: ``__main__.py`` then imports ``build_migrator_layer`` from
``components.psycopg2_layer``. This writes a reproducible zip that holds no yoyo at all (only a note), so a
deploy with it cannot migrate anything; it lets the Pulumi program and its tests run on this branch.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from components.psycopg2_layer import DEFAULT_CACHE_DIR, LayerArchive

_NOTE = b"stand-in for the yoyo-migrations layer; replaced by build_migrator_layer()\n"


def build_migrator_layer(cache_dir: Path = DEFAULT_CACHE_DIR) -> LayerArchive:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / "migrator-standin.zip"
    if not target.is_file():
        partial = cache_dir / f".migrator-standin-{os.getpid()}.zip"
        with zipfile.ZipFile(partial, "w") as archive:
            info = zipfile.ZipInfo("python/STANDIN.txt", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, _NOTE)
        partial.replace(target)
    return LayerArchive(target, hashlib.sha256(target.read_bytes()).hexdigest())
