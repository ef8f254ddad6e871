"""The psycopg2 Lambda layer: built from the pinned ``psycopg2-binary`` wheel for the function's platform.

``build_layer()`` returns a ``LayerArchive`` (zip path + content hashes) for ``python/psycopg2/...`` as Lambda's
python3.13 arm64 runtime loads it. It runs when the Pulumi program runs (``pulumi preview``/``up``, and the
offline stack evaluation), and is cached on disk by content:

- the cache entry is named after the build's inputs: the pinned requirement, the platform tags, the wheel's
  pinned sha256 and ``BUILD_REVISION`` (bump it when this module changes the zip's layout);
- a hit (the zip is there and is a valid layer) costs one sha256 of a ~6 MB file and never touches the network;
- a miss downloads the one wheel with ``pip download --require-hashes`` (so a tampered or different wheel fails),
  then writes the zip reproducibly (sorted entries, fixed timestamps and modes) and atomically under a file lock
  (parallel test workers and concurrent ``pulumi`` runs share the cache safely).

Because the zip is reproducible, the same inputs give the same bytes and so the same ``source_code_hash``: an
unchanged layer is neither rebuilt nor re-uploaded, even from a fresh clone.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = PROJECT_DIR / "build" / "layers"  # build/ is gitignored
BUILD_REVISION = 1
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class LayerBuildError(RuntimeError):
    """The layer could not be built (download failed, wrong wheel, bad cache entry)."""


@dataclass(frozen=True)
class WheelSpec:
    """One binary wheel, pinned by version, platform and content hash."""

    project: str
    version: str
    platform: str
    python_version: str
    implementation: str
    abi: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def cache_key(self) -> str:
        return (f"{self.project}-{self.version}-{self.abi}-{self.platform}-{self.sha256[:16]}-r{BUILD_REVISION}")


# Lambda python3.13 on arm64 (Amazon Linux 2023, glibc 2.34): the manylinux_2_28 aarch64 wheel.
PSYCOPG2 = WheelSpec(
    project="psycopg2-binary",
    version="2.9.13",
    platform="manylinux_2_28_aarch64",
    python_version="3.13",
    implementation="cp",
    abi="cp313",
    sha256="aa37089795bd9701576edc2eb5849ce77a439eda9dfdfa47857449332cfa5292",
)


@dataclass(frozen=True)
class LayerArchive:
    path: Path
    sha256_hex: str

    @property
    def source_code_hash(self) -> str:
        """base64 of the zip's SHA-256, the form Lambda reports as CodeSha256."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


Downloader = Callable[[WheelSpec, Path], Path]


def pip_download(spec: WheelSpec, dest: Path) -> Path:
    """Download exactly ``spec``'s wheel into ``dest`` with pip, the hash enforced; returns the wheel's path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{spec.requirement} --hash=sha256:{spec.sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
        "--only-binary=:all:", "--require-hashes",
        "--platform", spec.platform, "--python-version", spec.python_version,
        "--implementation", spec.implementation, "--abi", spec.abi,
        "--dest", str(dest), "-r", str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = "\n".join(line for line in (result.stderr or result.stdout).splitlines()
                           if not line.startswith("WARNING: Location"))
        raise LayerBuildError(f"could not download {spec.requirement} for {spec.platform} ({spec.abi}) "
                              f"from the package index:\n{detail.strip()}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise LayerBuildError(f"expected one wheel for {spec.requirement}, pip gave {[w.name for w in wheels]}")
    return wheels[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_wheel(spec: WheelSpec, wheel: Path) -> None:
    actual = _sha256(wheel)
    if actual != spec.sha256:
        raise LayerBuildError(f"{wheel.name}: sha256 {actual} is not the pinned {spec.sha256}")
    tags = wheel.name[:-len(".whl")].split("-")[-3:]
    _, abi_tag, platform_tag = tags
    if abi_tag != spec.abi or spec.platform not in platform_tag.split("."):
        raise LayerBuildError(f"{wheel.name} is not a {spec.abi} {spec.platform} wheel")


def write_layer_zip(wheel: Path, target: Path) -> None:
    """Repack the wheel's files under ``python/`` (Lambda's layer path for Python), reproducibly."""
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in sorted(source.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            entry = zipfile.ZipInfo(f"python/{info.filename}", date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            executable = info.filename.endswith(".so") or ".so." in info.filename
            entry.external_attr = ((0o100755 if executable else 0o100644) << 16)
            entry.create_system = 3  # unix, so the modes above are honoured
            out.writestr(entry, source.read(info.filename), compresslevel=6)


def is_valid_layer(path: Path, spec: WheelSpec = PSYCOPG2) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            return ("python/psycopg2/__init__.py" in names
                    and any(n.startswith("python/psycopg2/_psycopg.") and n.endswith(".so") for n in names)
                    and archive.testzip() is None)
    except (OSError, zipfile.BadZipFile):
        return False


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_layer(spec: WheelSpec = PSYCOPG2, cache_dir: Path = DEFAULT_CACHE_DIR,
                download: Downloader = pip_download) -> LayerArchive:
    """The layer zip for ``spec``: from the cache when it is there, else downloaded, checked and built once."""
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{spec.cache_key}.zip"
    if target.is_file() and is_valid_layer(target, spec):
        return LayerArchive(target, _sha256(target))
    with _locked(cache_dir):
        if not (target.is_file() and is_valid_layer(target, spec)):  # another process may have built it meanwhile
            with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as work:
                work_dir = Path(work)
                wheel = download(spec, work_dir)
                _check_wheel(spec, wheel)
                partial = work_dir / "layer.zip"
                write_layer_zip(wheel, partial)
                if not is_valid_layer(partial, spec):
                    raise LayerBuildError(f"{wheel.name} does not contain psycopg2's package and extension")
                os.replace(partial, target)
    return LayerArchive(target, _sha256(target))
