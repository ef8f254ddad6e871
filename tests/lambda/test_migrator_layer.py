"""The migrator's yoyo layer: the pinned pure-Python wheels of lambda/migrator/requirements.txt (what every layer
must be: test_layers.py), complete enough for yoyo to read the migrations; malformed pins are refused."""

from __future__ import annotations

import hashlib
import shutil
import zipfile

import pytest

from components.psycopg2_layer import (
    LayerBuildError,
    RequirementsLayerSpec,
    build_migrator_layer,
    build_requirements_layer,
)
from ops.paths import MIGRATIONS_DIR
from tests.layer_support import MIGRATOR_LAYER, Counting, run_from_layer


def test_the_layer_holds_only_pure_python_files_and_is_small(layer_builds):
    built = layer_builds.built(MIGRATOR_LAYER)
    with zipfile.ZipFile(built.path) as archive:
        assert not any("psycopg2" in name for name in archive.namelist())  # psycopg2: its own layer
        assert {info.external_attr >> 16 for info in archive.infolist()} == {0o100644}
    assert built.path.stat().st_size < 300_000  # ~200 kB zipped, ~600 kB unpacked (Lambda allows 250 MB)


def test_the_layers_yoyo_reads_the_migrations_with_nothing_else_on_the_path(layer_builds, tmp_path):
    """Only the standard library and the layer (python -S: no site-packages): the layer is complete."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import yoyo, sqlparse, tabulate; "
            "from yoyo import read_migrations; from yoyo.connections import DatabaseURI; "
            "from yoyo.backends.core.postgresql import PostgresqlBackend; "
            "assert yoyo.__file__.startswith(sys.argv[1]), yoyo.__file__; "
            "print(' '.join(m.id for m in read_migrations(sys.argv[2])))")
    result = run_from_layer(layer_builds.built(MIGRATOR_LAYER), tmp_path, code, str(MIGRATIONS_DIR))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [p.stem for p in sorted(MIGRATIONS_DIR.glob("*.sql"))]


def test_a_missing_wheel_is_refused(layer_builds, tmp_path):
    with pytest.raises(LayerBuildError, match=r"^no wheel for zipp \(pinned in requirements\.txt\)$"):
        build_migrator_layer(cache_dir=tmp_path, download=Counting(layer_builds.wheels(MIGRATOR_LAYER), drop="zipp"))


def test_a_platform_wheel_is_refused(layer_builds, tmp_path):
    spec = RequirementsLayerSpec(name="odd", requirements=tmp_path / "requirements.txt", required_files=())
    wheel = tmp_path / "wheels" / "zipp-4.1.2-cp313-cp313-manylinux_2_28_aarch64.whl"
    wheel.parent.mkdir()
    shutil.copyfile(next(w for w in layer_builds.wheels(MIGRATOR_LAYER) if w.name.startswith("zipp")), wheel)
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
