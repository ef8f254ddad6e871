"""The migrator's yoyo layer: the pinned pure-Python wheels of lambda/migrator/requirements.txt, laid out for Lambda,
reproducible, cached by content like the psycopg2 layer."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from components import psycopg2_layer
from components.psycopg2_layer import (
    MIGRATOR,
    LayerBuildError,
    RequirementsLayerSpec,
    build_migrator_layer,
    build_requirements_layer,
    is_valid_requirements_layer,
    pip_download_requirements,
    write_layer_zip_from,
)
from ops.paths import MIGRATIONS_DIR

EXPECTED_PINS = [("yoyo-migrations", "9.0.0"), ("sqlparse", "0.6.1"), ("tabulate", "0.10.0"),
                 ("importlib-metadata", "10.2.0"), ("zipp", "4.1.2"), ("lazy-importer", "0.1.0")]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> list[Path]:
    """The pinned wheels, downloaded once for this module with the real downloader (pip, hashes enforced)."""
    return pip_download_requirements(MIGRATOR, tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A layer built end to end by build_migrator_layer with its real downloader, into an empty cache."""
    return build_migrator_layer(cache_dir=tmp_path_factory.mktemp("cache"))


class Counting:
    """A downloader that hands out copies of the stashed wheels (optionally one tampered, or one missing)."""

    def __init__(self, wheels: list[Path], tamper: str | None = None, drop: str | None = None):
        self.wheels, self.tamper, self.drop, self.calls = wheels, tamper, drop, 0

    def __call__(self, spec, dest: Path) -> list[Path]:
        self.calls += 1
        copies = []
        for wheel in self.wheels:
            if self.drop and wheel.name.startswith(self.drop):
                continue
            target = dest / wheel.name
            shutil.copyfile(wheel, target)
            if self.tamper and wheel.name.startswith(self.tamper):
                with target.open("ab") as handle:
                    handle.write(b"\0")
            copies.append(target)
        return copies


def test_the_pins_are_yoyo_9_0_0_and_its_dependencies_each_with_a_hash():
    pins = MIGRATOR.pins()
    assert [(p.project, p.version) for p in pins] == EXPECTED_PINS
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.sha256) for p in pins)
    requirements = (Path(psycopg2_layer.PROJECT_DIR) / "requirements.txt").read_text()
    assert "yoyo-migrations==9.0.0\n" in requirements  # the CLI and the tests use the same yoyo


def test_the_layer_holds_yoyo_and_its_dependencies_under_python(built):
    with zipfile.ZipFile(built.path) as archive:
        names = archive.namelist()
        assert all(name.startswith("python/") for name in names)
        assert set(MIGRATOR.required_files) <= set(names)
        for project, version in EXPECTED_PINS:
            dist = f"python/{project.replace('-', '_')}-{version}.dist-info/METADATA"
            assert f"\nVersion: {version}\n" in archive.read(dist).decode().replace("\r\n", "\n")
        assert not any(name.endswith(".so") or "psycopg2" in name for name in names)  # psycopg2: its own layer
        modes = {info.external_attr >> 16 for info in archive.infolist()}
        assert modes == {0o100644}
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert is_valid_requirements_layer(built.path)
    assert built.path.stat().st_size < 300_000  # ~200 kB zipped, ~600 kB unpacked (Lambda allows 250 MB)


def test_the_layers_yoyo_reads_the_migrations_with_nothing_else_on_the_path(built, tmp_path):
    """Only the standard library and the layer (python -S: no site-packages): the layer is complete."""
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(tmp_path)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import yoyo, sqlparse, tabulate; "
            "from yoyo import read_migrations; from yoyo.connections import DatabaseURI; "
            "from yoyo.backends.core.postgresql import PostgresqlBackend; "
            "assert yoyo.__file__.startswith(sys.argv[1]), yoyo.__file__; "
            "print(' '.join(m.id for m in read_migrations(sys.argv[2])))")
    result = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path / "python"), str(MIGRATIONS_DIR)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [p.stem for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]


def test_source_code_hash_is_the_base64_sha256_of_the_zip(built):
    digest = hashlib.sha256(built.path.read_bytes()).digest()
    assert built.sha256_hex == digest.hex()
    assert built.source_code_hash == base64.b64encode(digest).decode()


def test_the_cache_entry_is_named_after_the_requirements_file(built):
    digest = hashlib.sha256(MIGRATOR.requirements.read_bytes()).hexdigest()
    assert built.path.name == (f"yoyo-migrations-cp313-manylinux_2_28_aarch64-{digest[:16]}"
                               f"-r{psycopg2_layer.BUILD_REVISION}.zip")


def test_an_unchanged_layer_is_not_rebuilt_or_downloaded_again(wheels, tmp_path, built):
    download = Counting(wheels)
    first = build_migrator_layer(cache_dir=tmp_path, download=download)
    mtime = first.path.stat().st_mtime_ns
    second = build_migrator_layer(cache_dir=tmp_path, download=download)
    assert download.calls == 1
    assert second == first and second.path.stat().st_mtime_ns == mtime
    assert first.sha256_hex == built.sha256_hex  # the same bytes as the real download gave: reproducible


def test_the_zip_is_reproducible_whatever_order_the_wheels_come_in(wheels, tmp_path):
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    write_layer_zip_from(wheels, one)
    write_layer_zip_from(list(reversed(wheels)), two)
    assert one.read_bytes() == two.read_bytes()


def test_a_wheel_that_is_not_the_pinned_one_is_refused(wheels, tmp_path):
    with pytest.raises(LayerBuildError, match=r"^sqlparse-0\.6\.1-py3-none-any\.whl: sha256 [0-9a-f]{64} is not the "
                                              r"pinned 3be5a72d"):
        build_migrator_layer(cache_dir=tmp_path, download=Counting(wheels, tamper="sqlparse"))
    assert not list(tmp_path.glob("*.zip"))


def test_a_missing_wheel_is_refused(wheels, tmp_path):
    with pytest.raises(LayerBuildError, match=r"^no wheel for zipp \(pinned in requirements\.txt\)$"):
        build_migrator_layer(cache_dir=tmp_path, download=Counting(wheels, drop="zipp"))


def test_a_platform_wheel_is_refused(wheels, tmp_path):
    spec = RequirementsLayerSpec(name="odd", requirements=tmp_path / "requirements.txt", required_files=())
    wheel = tmp_path / "wheels" / "zipp-4.1.2-cp313-cp313-manylinux_2_28_aarch64.whl"
    wheel.parent.mkdir()
    shutil.copyfile(next(w for w in wheels if w.name.startswith("zipp")), wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    spec.requirements.write_text(f"zipp==4.1.2 --hash=sha256:{digest}\n")
    with pytest.raises(LayerBuildError, match="is not a pure-Python wheel"):
        build_requirements_layer(spec, cache_dir=tmp_path / "cache", download=lambda s, d: [wheel])


def test_an_unpinned_requirement_is_refused_with_its_line(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\nyoyo-migrations==9.0.0\n")
    spec = RequirementsLayerSpec(name="yoyo", requirements=requirements, required_files=())
    with pytest.raises(LayerBuildError, match=r"requirements\.txt:2: expected 'project==version "
                                              r"--hash=sha256:<64 hex>', got 'yoyo-migrations==9\.0\.0'"):
        build_requirements_layer(spec, cache_dir=tmp_path / "cache")


def test_the_psycopg2_layer_keeps_its_public_names():
    from components.psycopg2_layer import PSYCOPG2, LayerArchive, build_layer, write_layer_zip  # noqa: F401

    assert build_layer.__defaults__[0] is PSYCOPG2
