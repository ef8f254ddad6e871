"""What a Lambda package is assembled from: the repository's folders, the RDS CA bundle, and the check that every file a
package must carry is there before anything is declared.

Each package is built file by file (so caches and test leftovers never ship); a file it needs that is missing is one
``PackagingError`` naming the file and why the function needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi

PROJECT_DIR = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = PROJECT_DIR / "sql" / "migrations"
CA_BUNDLE = "global-bundle.pem"
# The Amazon RDS CA bundle (one file in the repository): every function that connects to the database ships it and
# verifies the server's certificate against it (verify-full).
CA_BUNDLE_SOURCE = PROJECT_DIR / "lambda" / "post_confirmation" / CA_BUNDLE


class PackagingError(pulumi.RunError):
    """A function's package cannot be assembled (a file it must ship is missing)."""


def package_files(files: Mapping[str, Path], needs: Mapping[str, str]) -> dict[str, pulumi.FileAsset]:
    """``{name in the package: FileAsset}`` for ``files``, checked in their order: the first that is missing is a
    ``PackagingError`` "``<path> is missing: <needs[name]>``"."""
    for name, path in files.items():
        if not path.is_file():
            raise PackagingError(f"{path} is missing: {needs[name]}")
    return {name: pulumi.FileAsset(str(path)) for name, path in files.items()}
