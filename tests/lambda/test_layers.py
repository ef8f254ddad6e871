"""What every Lambda layer the stack builds must be (psycopg2, the migrator's yoyo, Powertools): laid out under
``python/``, cached by content under a name made of its inputs, built once, reproducible, refusing a wheel that
is not the pinned one. What is each layer's own is in test_layer_build.py, test_migrator_layer.py and
test_powertools_layer.py."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

import pytest

from components import psycopg2_layer
from components.psycopg2_layer import LayerBuildError
from tests.layer_support import LAYERS, REQUIREMENTS_LAYERS, Counting, cache_name

every_layer = pytest.mark.parametrize("layer", LAYERS, ids=str)
requirements_layers = pytest.mark.parametrize("layer", REQUIREMENTS_LAYERS, ids=str)


@every_layer
def test_every_file_is_under_python_and_the_layer_is_usable(layer, layer_builds):
    built = layer_builds.built(layer)
    with zipfile.ZipFile(built.path) as archive:
        assert all(name.startswith("python/") for name in archive.namelist())
    assert layer.valid(built.path)


@every_layer
def test_source_code_hash_is_the_base64_sha256_of_the_zip(layer, layer_builds):
    built = layer_builds.built(layer)
    digest = hashlib.sha256(built.path.read_bytes()).digest()
    assert built.sha256_hex == digest.hex()
    assert built.source_code_hash == base64.b64encode(digest).decode()


@every_layer
def test_the_cache_entry_is_named_after_its_inputs(layer, layer_builds):
    assert layer_builds.built(layer).path.name == cache_name(layer)


@every_layer
def test_an_unchanged_layer_is_not_rebuilt_or_downloaded_again(layer, layer_builds, tmp_path):
    download = Counting.of(layer, layer_builds.wheels(layer))
    first = layer.build(cache_dir=tmp_path, download=download)
    mtime = first.path.stat().st_mtime_ns
    second = layer.build(cache_dir=tmp_path, download=download)
    assert download.calls == 1
    assert second == first and second.path.stat().st_mtime_ns == mtime
    assert first.sha256_hex == layer_builds.built(layer).sha256_hex  # the same bytes as the real download gave


@every_layer
def test_the_zip_is_reproducible_whatever_order_the_wheels_come_in(layer, layer_builds, tmp_path):
    """So its hash is stable across clones: the same bytes every time, the same as build made."""
    wheels = layer_builds.wheels(layer)
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    layer.write_zip(wheels, one)
    layer.write_zip(list(reversed(wheels)), two)
    assert one.read_bytes() == two.read_bytes()
    assert hashlib.sha256(one.read_bytes()).hexdigest() == layer_builds.built(layer).sha256_hex


@every_layer
def test_a_wheel_that_is_not_the_pinned_one_is_refused(layer, layer_builds, tmp_path):
    with pytest.raises(LayerBuildError, match=layer.refusal):
        layer.build(cache_dir=tmp_path, download=Counting.of(layer, layer_builds.wheels(layer), tamper=layer.tampered))
    assert not list(tmp_path.glob("*.zip"))


@every_layer
def test_a_corrupt_cache_entry_is_rebuilt(layer, layer_builds, tmp_path):
    download = Counting.of(layer, layer_builds.wheels(layer))
    (tmp_path / cache_name(layer)).write_bytes(b"not a zip")
    rebuilt = layer.build(cache_dir=tmp_path, download=download)
    assert download.calls == 1 and rebuilt.sha256_hex == layer_builds.built(layer).sha256_hex


# -- the requirements layers: pure-Python wheels, every one pinned with its hash in a requirements file ------------
@requirements_layers
def test_the_pins_are_the_tested_releases_each_with_a_hash(layer):
    pins = layer.spec.pins()
    assert tuple((p.project, p.version) for p in pins) == layer.pins
    assert all(re.fullmatch(r"[0-9a-f]{64}", p.sha256) for p in pins)
    project_file, line = layer.tested_pin
    assert line in (Path(psycopg2_layer.PROJECT_DIR) / project_file).read_text()


@requirements_layers
def test_the_layer_holds_every_pinned_wheel_under_python(layer, layer_builds):
    with zipfile.ZipFile(layer_builds.built(layer).path) as archive:
        names = archive.namelist()
        assert set(layer.spec.required_files) <= set(names)
        for project, version in layer.pins:
            dist = f"python/{project.replace('-', '_')}-{version}.dist-info/METADATA"
            assert f"\nVersion: {version}\n" in archive.read(dist).decode().replace("\r\n", "\n")
        assert not any(name.endswith(".so") for name in names)  # pure Python: no platform to match
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
