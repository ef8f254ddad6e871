"""The stack's own Powertools layer (code signing is enforced, so AWS's public layer cannot be attached): the pinned
pure-Python wheels of lambda/powertools_layer/requirements.txt, laid out for Lambda, reproducible, hash-checked and
cached by content like the other layers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from components import psycopg2_layer
from components.psycopg2_layer import (
    POWERTOOLS,
    LayerBuildError,
    build_powertools_layer,
    is_valid_requirements_layer,
    pip_download_requirements,
)

EXPECTED_PINS = [("aws-lambda-powertools", "3.37.0"), ("jmespath", "1.0.1"), ("typing-extensions", "4.16.0")]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> list[Path]:
    """The pinned wheels, downloaded once for this module with the real downloader (pip, hashes enforced)."""
    return pip_download_requirements(POWERTOOLS, tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A layer built end to end by build_powertools_layer with its real downloader, into an empty cache."""
    return build_powertools_layer(cache_dir=tmp_path_factory.mktemp("cache"))


class Counting:
    """A downloader handing out copies of the stashed wheels (optionally one tampered)."""

    def __init__(self, wheels: list[Path], tamper: str | None = None):
        self.wheels, self.tamper, self.calls = wheels, tamper, 0

    def __call__(self, spec, dest: Path) -> list[Path]:
        self.calls += 1
        copies = []
        for wheel in self.wheels:
            target = dest / wheel.name
            shutil.copyfile(wheel, target)
            if self.tamper and wheel.name.startswith(self.tamper):
                with target.open("ab") as handle:
                    handle.write(b"\0")
            copies.append(target)
        return copies


def test_the_pins_are_the_tested_powertools_and_its_two_dependencies_each_with_a_hash():
    pins = POWERTOOLS.pins()
    assert [(p.project, p.version) for p in pins] == EXPECTED_PINS
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.sha256) for p in pins)
    tested = (Path(psycopg2_layer.PROJECT_DIR) / "requirements-test.txt").read_text()
    assert "\naws-lambda-powertools==3.37.0\n" in tested  # the handlers' tests import the same release


def test_the_layer_holds_powertools_and_its_dependencies_under_python(built):
    with zipfile.ZipFile(built.path) as archive:
        names = archive.namelist()
        assert all(name.startswith("python/") for name in names)
        assert set(POWERTOOLS.required_files) <= set(names)
        for project, version in EXPECTED_PINS:
            dist = f"python/{project.replace('-', '_')}-{version}.dist-info/METADATA"
            assert f"\nVersion: {version}\n" in archive.read(dist).decode().replace("\r\n", "\n")
        assert not any(name.endswith(".so") for name in names)  # pure Python: no platform to match
        assert not any(name.startswith(("python/boto3/", "python/botocore/")) for name in names)  # the runtime's
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert is_valid_requirements_layer(built.path, POWERTOOLS)


def test_the_layers_logger_runs_with_nothing_else_on_the_path(built, tmp_path):
    """Only the standard library and the layer (python -S: no site-packages): the handlers' import works."""
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(tmp_path)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from aws_lambda_powertools import Logger; import aws_lambda_powertools, jmespath, typing_extensions; "
            "assert aws_lambda_powertools.__file__.startswith(sys.argv[1]); "
            "Logger(service='cruddur-layer-check').info('layer ok')")
    result = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path / "python")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert (line["message"], line["service"], line["level"]) == ("layer ok", "cruddur-layer-check", "INFO")


def test_the_cache_entry_is_named_after_the_requirements_file(built):
    digest = hashlib.sha256(POWERTOOLS.requirements.read_bytes()).hexdigest()
    assert built.path.name == (f"aws-lambda-powertools-cp313-manylinux_2_28_aarch64-{digest[:16]}"
                               f"-r{psycopg2_layer.BUILD_REVISION}.zip")


def test_an_unchanged_layer_is_not_rebuilt_or_downloaded_again(wheels, tmp_path, built):
    download = Counting(wheels)
    first = build_powertools_layer(cache_dir=tmp_path, download=download)
    mtime = first.path.stat().st_mtime_ns
    second = build_powertools_layer(cache_dir=tmp_path, download=download)
    assert download.calls == 1
    assert second == first and second.path.stat().st_mtime_ns == mtime
    assert first.sha256_hex == built.sha256_hex  # the same bytes as the real download gave: reproducible


def test_a_tampered_wheel_is_refused(wheels, tmp_path):
    with pytest.raises(LayerBuildError, match=r"^jmespath-1\.0\.1-py3-none-any\.whl: sha256 [0-9a-f]{64} is not the "
                                              r"pinned 02e2e4cc"):
        build_powertools_layer(cache_dir=tmp_path, download=Counting(wheels, tamper="jmespath"))
    assert not list(tmp_path.glob("*.zip"))
