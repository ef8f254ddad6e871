"""The Lambda layers built from pinned wheels: psycopg2, yoyo-migrations (the migrator) and Powertools.

``build_layer()`` returns a ``LayerArchive`` (zip path + content hashes) for ``python/psycopg2/...`` as Lambda's
python3.13 arm64 runtime loads it, from the pinned ``psycopg2-binary`` wheel. ``build_migrator_layer()`` does the
same for ``python/yoyo/...`` and its pure-Python dependencies, pinned with their hashes in
``lambda/migrator/requirements.txt``, and ``build_powertools_layer()`` for ``python/aws_lambda_powertools/...``
from ``lambda/powertools_layer/requirements.txt`` (the stack's own Powertools layer: code signing is enforced, so
AWS's public layer cannot be attached). All run when the Pulumi program runs (``pulumi preview``/``up``, and the
offline stack evaluation), and are cached on disk by content:

- the cache entry is named after the build's inputs: the pinned requirement, the platform tags, the wheel's
  pinned sha256 and ``BUILD_REVISION`` (bump it when this module changes the zip's layout); for the yoyo and
  Powertools layers, the sha256 of their requirements file (every version and hash);
- a hit (the zip is there and is a valid layer) costs one sha256 of the zip and never touches the network;
- a miss downloads the pinned wheels with ``pip download --require-hashes`` (so a tampered or different wheel
  fails), then writes the zip reproducibly (sorted entries, fixed timestamps and modes) and atomically under a
  file lock (parallel test workers and concurrent ``pulumi`` runs share the cache safely).

Because the zip is reproducible, the same inputs give the same bytes and so the same ``source_code_hash``: an
unchanged layer is neither rebuilt nor re-uploaded, even from a fresh clone.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

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


def _pip_download(spec: WheelSpec | RequirementsLayerSpec, requirements: Path, dest: Path, what: str) -> list[Path]:
    """``pip download`` of exactly the hash-pinned ``requirements`` (no dependency resolution) for ``spec``'s
    platform, Python, implementation and ABI into ``dest``: the wheels it wrote. A failure is one LayerBuildError
    naming ``what``, with pip's own lines."""
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
        raise LayerBuildError(f"could not download {what} for {spec.platform} ({spec.abi}) from the package index:\n"
                              f"{detail.strip()}")
    return sorted(dest.glob("*.whl"))


def pip_download(spec: WheelSpec, dest: Path) -> Path:
    """Download exactly ``spec``'s wheel into ``dest`` with pip, the hash enforced; returns the wheel's path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{spec.requirement} --hash=sha256:{spec.sha256}\n")
    wheels = _pip_download(spec, requirements, dest, spec.requirement)
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
    write_layer_zip_from([wheel], target)


def write_layer_zip_from(wheels: Sequence[Path], target: Path) -> None:
    """Repack the files of every wheel under ``python/``, reproducibly: entries sorted by name across the wheels,
    fixed timestamps and modes. Two wheels holding the same file is an error (one would silently win)."""
    entries: dict[str, tuple[Path, zipfile.ZipInfo]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as source:
            for info in source.infolist():
                if info.is_dir():
                    continue
                if info.filename in entries:
                    raise LayerBuildError(f"{info.filename} is in both {entries[info.filename][0].name} and "
                                          f"{wheel.name}")
                entries[info.filename] = (wheel, info)
    sources: dict[Path, zipfile.ZipFile] = {}
    try:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for filename in sorted(entries):
                wheel, info = entries[filename]
                source = sources.get(wheel) or sources.setdefault(wheel, zipfile.ZipFile(wheel))
                entry = zipfile.ZipInfo(f"python/{filename}", date_time=_FIXED_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                executable = filename.endswith(".so") or ".so." in filename
                entry.external_attr = ((0o100755 if executable else 0o100644) << 16)
                entry.create_system = 3  # unix, so the modes above are honoured
                out.writestr(entry, source.read(info.filename), compresslevel=6)
    finally:
        for source in sources.values():
            source.close()


def is_valid_layer(path: Path, spec: WheelSpec = PSYCOPG2) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            return ("python/psycopg2/__init__.py" in names
                    and any(n.startswith("python/psycopg2/_psycopg.") and n.endswith(".so") for n in names)
                    and archive.testzip() is None)
    except (OSError, zipfile.BadZipFile):
        return False


_Wheels = TypeVar("_Wheels")  # what a layer is built from: one wheel (psycopg2) or several (a requirements file)


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_build(cache_dir: Path, name: str, valid: Callable[[Path], bool], fetch: Callable[[Path], _Wheels],
                  write: Callable[[_Wheels, Path], None], incomplete: Callable[[_Wheels], str]) -> LayerArchive:
    """``cache_dir/name`` when it is there and ``valid``; else built once, under the cache's file lock: ``fetch``
    downloads and checks the wheels into a work folder, ``write`` makes the layer zip of them, which must be ``valid``
    (else ``incomplete(wheels)`` is the error), and it is moved into place atomically."""
    cache_dir = Path(cache_dir)
    target = cache_dir / name
    if target.is_file() and valid(target):
        return LayerArchive(target, _sha256(target))
    with _locked(cache_dir):
        if not (target.is_file() and valid(target)):  # another process may have built it meanwhile
            with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as work:
                wheels = fetch(Path(work))
                partial = Path(work) / "layer.zip"
                write(wheels, partial)
                if not valid(partial):
                    raise LayerBuildError(incomplete(wheels))
                os.replace(partial, target)
    return LayerArchive(target, _sha256(target))


def build_layer(spec: WheelSpec = PSYCOPG2, cache_dir: Path = DEFAULT_CACHE_DIR,
                download: Downloader = pip_download) -> LayerArchive:
    """The layer zip for ``spec``: from the cache when it is there, else downloaded, checked and built once."""

    def fetch(work_dir: Path) -> Path:
        wheel = download(spec, work_dir)
        _check_wheel(spec, wheel)
        return wheel

    return _cached_build(cache_dir, f"{spec.cache_key}.zip", lambda path: is_valid_layer(path, spec), fetch,
                         write_layer_zip, lambda wheel: f"{wheel.name} does not contain psycopg2's package and extension")


# -- the migrator's yoyo layer: several pure-Python wheels pinned in a requirements file -------------------------
MIGRATOR_REQUIREMENTS = PROJECT_DIR / "lambda" / "migrator" / "requirements.txt"
_PIN = re.compile(r"^(?P<project>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)\s+"
                  r"--hash=sha256:(?P<sha256>[0-9a-f]{64})$")


@dataclass(frozen=True)
class PinnedWheel:
    """One line of a hash-pinned requirements file: ``project==version --hash=sha256:<hex>``."""

    project: str
    version: str
    sha256: str

    @property
    def normalized(self) -> str:
        """The project name as wheel file names spell it (PEP 427: runs of ``-_.`` become ``_``, lower case)."""
        return re.sub(r"[-_.]+", "_", self.project).lower()


@dataclass(frozen=True)
class RequirementsLayerSpec:
    """A layer of pure-Python wheels, every one pinned (version and sha256) in ``requirements``."""

    name: str
    requirements: Path
    required_files: tuple[str, ...]  # paths inside the zip that make it a usable layer
    platform: str = PSYCOPG2.platform
    python_version: str = PSYCOPG2.python_version
    implementation: str = PSYCOPG2.implementation
    abi: str = PSYCOPG2.abi

    def pins(self) -> tuple[PinnedWheel, ...]:
        try:
            text = Path(self.requirements).read_text()
        except OSError as exc:
            raise LayerBuildError(f"cannot read the {self.name} layer's pinned requirements "
                                  f"{self.requirements}: {exc.strerror}") from None
        pins = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = _PIN.match(line)
            if not match:
                raise LayerBuildError(f"{self.requirements}:{number}: expected 'project==version "
                                      f"--hash=sha256:<64 hex>', got {line!r}")
            pins.append(PinnedWheel(**match.groupdict()))
        if not pins:
            raise LayerBuildError(f"{self.requirements} pins no wheel")
        return tuple(pins)

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(Path(self.requirements).read_bytes()).hexdigest()
        return f"{self.name}-{self.abi}-{self.platform}-{digest[:16]}-r{BUILD_REVISION}"


MIGRATOR = RequirementsLayerSpec(
    name="yoyo-migrations",
    requirements=MIGRATOR_REQUIREMENTS,
    required_files=(
        "python/yoyo/__init__.py", "python/yoyo/backends/core/postgresql.py", "python/sqlparse/__init__.py",
        "python/tabulate/__init__.py", "python/importlib_metadata/__init__.py", "python/zipp/__init__.py",
        "python/lazy_importer/__init__.py", "python/yoyo_migrations-9.0.0.dist-info/entry_points.txt",
    ),
)

RequirementsDownloader = Callable[[RequirementsLayerSpec, Path], "list[Path]"]


def pip_download_requirements(spec: RequirementsLayerSpec, dest: Path) -> list[Path]:
    """Download exactly the pinned wheels of ``spec`` into ``dest`` (no dependency resolution: the file lists them
    all; every hash enforced by pip); returns the wheels' paths."""
    spec.pins()  # a malformed file fails here, with its line, rather than in pip
    return _pip_download(spec, spec.requirements, dest, f"the {spec.name} layer's wheels ({spec.requirements.name})")


def _check_pinned_wheels(spec: RequirementsLayerSpec, wheels: Sequence[Path]) -> None:
    """Exactly one wheel per pin, each pure Python (``none-any``), of the pinned version and sha256."""
    pins = {pin.normalized: pin for pin in spec.pins()}
    seen: set[str] = set()
    for wheel in wheels:
        parts = wheel.name[:-len(".whl")].split("-")
        project, version, abi_tag, platform_tag = parts[0].lower(), parts[1], parts[-2], parts[-1]
        pin = pins.get(project)
        if pin is None or project in seen:
            raise LayerBuildError(f"{wheel.name} is not one of the wheels pinned in {spec.requirements.name}")
        seen.add(project)
        if version != pin.version:
            raise LayerBuildError(f"{wheel.name} is not the pinned {pin.project}=={pin.version}")
        if (abi_tag, platform_tag) != ("none", "any"):
            raise LayerBuildError(f"{wheel.name} is not a pure-Python wheel (none-any); the {spec.name} layer "
                                  "must not depend on the build machine's platform")
        actual = _sha256(wheel)
        if actual != pin.sha256:
            raise LayerBuildError(f"{wheel.name}: sha256 {actual} is not the pinned {pin.sha256}")
    missing = sorted(pins[name].project for name in set(pins) - seen)
    if missing:
        raise LayerBuildError(f"no wheel for {', '.join(missing)} (pinned in {spec.requirements.name})")


def is_valid_requirements_layer(path: Path, spec: RequirementsLayerSpec = MIGRATOR) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            return all(name in names for name in spec.required_files) and archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def build_requirements_layer(spec: RequirementsLayerSpec, cache_dir: Path = DEFAULT_CACHE_DIR,
                             download: RequirementsDownloader = pip_download_requirements) -> LayerArchive:
    """The layer zip for ``spec``'s pinned wheels: from the cache, else downloaded, checked and built once."""

    def fetch(work_dir: Path) -> list[Path]:
        wheel_dir = work_dir / "wheels"
        wheel_dir.mkdir()
        wheels = download(spec, wheel_dir)
        _check_pinned_wheels(spec, wheels)
        return wheels

    return _cached_build(cache_dir, f"{spec.cache_key}.zip", lambda path: is_valid_requirements_layer(path, spec),
                         fetch, write_layer_zip_from,
                         lambda _: f"the {spec.name} layer lacks one of {', '.join(spec.required_files)}")


def build_migrator_layer(cache_dir: Path = DEFAULT_CACHE_DIR,
                         download: RequirementsDownloader = pip_download_requirements) -> LayerArchive:
    """The migrator's layer: ``python/yoyo`` and its dependencies, from ``lambda/migrator/requirements.txt``."""
    return build_requirements_layer(MIGRATOR, cache_dir, download)


# -- the stack's own Powertools layer: code signing is enforced, so the public layer cannot be attached -----------
POWERTOOLS_REQUIREMENTS = PROJECT_DIR / "lambda" / "powertools_layer" / "requirements.txt"
POWERTOOLS = RequirementsLayerSpec(
    name="aws-lambda-powertools",
    requirements=POWERTOOLS_REQUIREMENTS,
    required_files=(
        "python/aws_lambda_powertools/__init__.py", "python/aws_lambda_powertools/logging/logger.py",
        "python/jmespath/__init__.py", "python/typing_extensions.py",
    ),
)


def build_powertools_layer(cache_dir: Path = DEFAULT_CACHE_DIR,
                           download: RequirementsDownloader = pip_download_requirements) -> LayerArchive:
    """Powertools for AWS Lambda (Python) and its two dependencies, from ``lambda/powertools_layer/requirements.txt``
    (the version the tests import), built, hash-checked and cached like the other layers; signed on deploy."""
    return build_requirements_layer(POWERTOOLS, cache_dir, download)
