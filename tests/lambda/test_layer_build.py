"""The psycopg2 layer: built from the pinned aarch64/cp313 wheel, laid out for Lambda, cached by content."""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from components import psycopg2_layer
from components.psycopg2_layer import (
    PSYCOPG2,
    LayerBuildError,
    build_layer,
    is_valid_layer,
    pip_download,
    write_layer_zip,
)

ELF_MACHINE_AARCH64 = 183


@pytest.fixture(scope="module")
def wheel_stash(tmp_path_factory) -> Path:
    """The pinned wheel, downloaded once for this module with the real downloader (pip, hash enforced)."""
    return pip_download(PSYCOPG2, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A layer built end to end by build_layer with its real downloader, into an empty cache."""
    return build_layer(cache_dir=tmp_path_factory.mktemp("cache"))


class Counting:
    """A downloader that hands out a copy of the stashed wheel and counts the calls."""

    def __init__(self, wheel: Path, tamper: bool = False):
        self.wheel, self.tamper, self.calls = wheel, tamper, 0

    def __call__(self, spec, dest: Path) -> Path:
        self.calls += 1
        target = dest / self.wheel.name
        shutil.copyfile(self.wheel, target)
        if self.tamper:
            with target.open("ab") as handle:
                handle.write(b"\0")
        return target


def test_the_pin_is_psycopg2_binary_2_9_13_for_lambda_python313_arm64():
    assert (PSYCOPG2.project, PSYCOPG2.version) == ("psycopg2-binary", "2.9.13")
    assert (PSYCOPG2.platform, PSYCOPG2.abi, PSYCOPG2.python_version) == ("manylinux_2_28_aarch64", "cp313", "3.13")
    requirements = (Path(psycopg2_layer.PROJECT_DIR) / "requirements.txt").read_text()
    assert f"psycopg2-binary=={PSYCOPG2.version}\n" in requirements  # the tests use the same version


def test_layer_zip_holds_python_psycopg2_for_aarch64_at_the_pinned_version(built):
    with zipfile.ZipFile(built.path) as archive:
        names = archive.namelist()
        assert all(name.startswith("python/") for name in names)
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
    assert is_valid_layer(built.path)


def test_source_code_hash_is_the_base64_sha256_of_the_zip(built):
    digest = hashlib.sha256(built.path.read_bytes()).digest()
    assert built.sha256_hex == digest.hex()
    assert built.source_code_hash == base64.b64encode(digest).decode()


def test_the_cache_entry_is_named_after_its_inputs(built):
    assert built.path.name == (f"psycopg2-binary-2.9.13-cp313-manylinux_2_28_aarch64-{PSYCOPG2.sha256[:16]}"
                               f"-r{psycopg2_layer.BUILD_REVISION}.zip")


def test_an_unchanged_layer_is_not_rebuilt_or_downloaded_again(wheel_stash, tmp_path):
    download = Counting(wheel_stash)
    first = build_layer(cache_dir=tmp_path, download=download)
    mtime = first.path.stat().st_mtime_ns
    second = build_layer(cache_dir=tmp_path, download=download)
    assert download.calls == 1
    assert second == first and second.path.stat().st_mtime_ns == mtime


def test_the_zip_is_reproducible_so_its_hash_is_stable_across_clones(wheel_stash, tmp_path, built):
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    write_layer_zip(wheel_stash, one)
    write_layer_zip(wheel_stash, two)
    assert one.read_bytes() == two.read_bytes()
    assert hashlib.sha256(one.read_bytes()).hexdigest() == built.sha256_hex  # same bytes as build_layer made


def test_a_wheel_that_is_not_the_pinned_one_is_refused(wheel_stash, tmp_path):
    with pytest.raises(LayerBuildError, match="is not the pinned"):
        build_layer(cache_dir=tmp_path, download=Counting(wheel_stash, tamper=True))
    assert not list(tmp_path.glob("*.zip"))


def test_a_corrupt_cache_entry_is_rebuilt(wheel_stash, tmp_path, built):
    download = Counting(wheel_stash)
    target = tmp_path / built.path.name
    target.write_bytes(b"not a zip")
    rebuilt = build_layer(cache_dir=tmp_path, download=download)
    assert download.calls == 1 and rebuilt.sha256_hex == built.sha256_hex


def test_a_failed_download_says_what_and_for_which_platform(tmp_path, monkeypatch):
    spec = psycopg2_layer.WheelSpec(project="psycopg2-binary", version="0.0.0-does-not-exist",
                                    platform=PSYCOPG2.platform, python_version="3.13", implementation="cp",
                                    abi="cp313", sha256="0" * 64)
    with pytest.raises(LayerBuildError, match="could not download psycopg2-binary==0.0.0-does-not-exist for "
                                              "manylinux_2_28_aarch64"):
        build_layer(spec, cache_dir=tmp_path)
