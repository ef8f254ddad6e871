"""The psycopg2 layer: built from the pinned aarch64/cp313 wheel, laid out for Lambda (what every layer must be:
test_layers.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from components import psycopg2_layer
from components.psycopg2_layer import PSYCOPG2, LayerBuildError, build_layer
from tests.layer_support import PSYCOPG2_LAYER

ELF_MACHINE_AARCH64 = 183


def test_the_pin_is_psycopg2_binary_2_9_13_for_lambda_python313_arm64():
    assert (PSYCOPG2.project, PSYCOPG2.version) == ("psycopg2-binary", "2.9.13")
    assert (PSYCOPG2.platform, PSYCOPG2.abi, PSYCOPG2.python_version) == ("manylinux_2_28_aarch64", "cp313", "3.13")
    requirements = (Path(psycopg2_layer.PROJECT_DIR) / "requirements.txt").read_text()
    assert f"psycopg2-binary=={PSYCOPG2.version}\n" in requirements  # the tests use the same version


def test_layer_zip_holds_python_psycopg2_for_aarch64_at_the_pinned_version(layer_builds):
    with zipfile.ZipFile(layer_builds.built(PSYCOPG2_LAYER).path) as archive:
        names = archive.namelist()
        assert "python/psycopg2/__init__.py" in names
        assert "python/psycopg2/extras.py" in names
        extension = "python/psycopg2/_psycopg.cpython-313-aarch64-linux-gnu.so"
        elf = archive.read(extension)
        assert elf[:4] == b"\x7fELF" and elf[4] == 2  # 64-bit
        assert int.from_bytes(elf[18:20], "little") == ELF_MACHINE_AARCH64
        assert any(n.startswith("python/psycopg2_binary.libs/libpq") for n in names)  # the bundled libpq
        metadata = archive.read("python/psycopg2_binary-2.9.13.dist-info/METADATA").decode()
        assert "\nVersion: 2.9.13\n" in metadata
        wheel_tags = archive.read("python/psycopg2_binary-2.9.13.dist-info/WHEEL").decode()
        assert "Tag: cp313-cp313-manylinux_2_28_aarch64" in wheel_tags
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert modes[extension] == 0o100755 and modes["python/psycopg2/__init__.py"] == 0o100644


def test_a_failed_download_says_what_and_for_which_platform(tmp_path, monkeypatch):
    spec = psycopg2_layer.WheelSpec(project="psycopg2-binary", version="0.0.0-does-not-exist",
                                    platform=PSYCOPG2.platform, python_version="3.13", implementation="cp",
                                    abi="cp313", sha256="0" * 64)
    with pytest.raises(LayerBuildError, match="could not download psycopg2-binary==0.0.0-does-not-exist for "
                                              "manylinux_2_28_aarch64"):
        build_layer(spec, cache_dir=tmp_path)
