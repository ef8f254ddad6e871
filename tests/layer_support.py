"""The three Lambda layers the stack builds, as their tests see them (``tests/lambda/test_layers.py`` runs what every
layer must do on each; ``test_layer_build.py``, ``test_migrator_layer.py``, ``test_powertools_layer.py`` what is
each one's own).

``LAYERS``: one ``Layer`` per layer (psycopg2's binary wheel, the migrator's yoyo wheels, Powertools' wheels) with
its build function, its real downloader, the cache entry name it must get and the wheel a tamper test corrupts.
``Counting``: a downloader that hands out copies of stashed wheels and counts its calls. ``LayerBuilds`` (the
``layer_builds`` fixture of ``tests/lambda/conftest.py``): each layer's wheels and its end-to-end build, made once
per session. ``run_from_layer``: Python code run with only the standard library and an extracted layer.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from components import psycopg2_layer
from components.psycopg2_layer import (
    MIGRATOR,
    POWERTOOLS,
    PSYCOPG2,
    LayerArchive,
    RequirementsLayerSpec,
    build_layer,
    build_migrator_layer,
    build_powertools_layer,
    is_valid_layer,
    is_valid_requirements_layer,
    pip_download,
    pip_download_requirements,
    write_layer_zip,
    write_layer_zip_from,
)


@dataclass(frozen=True)
class Layer:
    name: str
    build: Callable[..., LayerArchive]  # build(cache_dir=..., download=...)
    download: Callable[[Path], list[Path]]  # the real downloader (pip, hashes enforced) into a folder
    valid: Callable[[Path], bool]
    write_zip: Callable[[Sequence[Path], Path], None]
    cache_stem: Callable[[], str]  # the cache entry's name before "-r<BUILD_REVISION>.zip"
    tampered: str  # the start of the name of the wheel a tamper test corrupts
    refusal: str  # what the build says when that wheel is corrupted (a regex)
    one_wheel: bool = False  # the downloader returns one wheel, not a list
    spec: RequirementsLayerSpec | None = None  # requirements layers: the spec
    pins: tuple[tuple[str, str], ...] = ()  # requirements layers: (project, version) in the file's order
    tested_pin: tuple[str, str] = ("", "")  # (the project file that pins the same release, its line)

    def __str__(self) -> str:
        return self.name


def _requirements_digest(spec: RequirementsLayerSpec) -> str:
    return hashlib.sha256(spec.requirements.read_bytes()).hexdigest()


PSYCOPG2_LAYER = Layer(
    name="psycopg2", build=build_layer, download=lambda dest: [pip_download(PSYCOPG2, dest)],
    valid=is_valid_layer, write_zip=lambda wheels, target: write_layer_zip(*wheels, target),
    cache_stem=lambda: f"psycopg2-binary-2.9.13-cp313-manylinux_2_28_aarch64-{PSYCOPG2.sha256[:16]}",
    tampered="psycopg2", refusal=r"^psycopg2_binary-2\.9\.13-.*\.whl: sha256 [0-9a-f]{64} is not the pinned aa370897",
    one_wheel=True)
MIGRATOR_LAYER = Layer(
    name="migrator", build=build_migrator_layer, download=lambda dest: pip_download_requirements(MIGRATOR, dest),
    valid=lambda path: is_valid_requirements_layer(path, MIGRATOR), write_zip=write_layer_zip_from,
    cache_stem=lambda: f"yoyo-migrations-cp313-manylinux_2_28_aarch64-{_requirements_digest(MIGRATOR)[:16]}",
    tampered="sqlparse", refusal=r"^sqlparse-0\.6\.1-py3-none-any\.whl: sha256 [0-9a-f]{64} is not the pinned 3be5a72d",
    spec=MIGRATOR,
    pins=(("yoyo-migrations", "9.0.0"), ("sqlparse", "0.6.1"), ("tabulate", "0.10.0"),
          ("importlib-metadata", "10.2.0"), ("zipp", "4.1.2"), ("lazy-importer", "0.1.0")),
    tested_pin=("requirements.txt", "yoyo-migrations==9.0.0\n"))  # the CLI and the tests use the same yoyo
POWERTOOLS_LAYER = Layer(
    name="powertools", build=build_powertools_layer,
    download=lambda dest: pip_download_requirements(POWERTOOLS, dest),
    valid=lambda path: is_valid_requirements_layer(path, POWERTOOLS), write_zip=write_layer_zip_from,
    cache_stem=lambda: f"aws-lambda-powertools-cp313-manylinux_2_28_aarch64-{_requirements_digest(POWERTOOLS)[:16]}",
    tampered="jmespath", refusal=r"^jmespath-1\.0\.1-py3-none-any\.whl: sha256 [0-9a-f]{64} is not the pinned 02e2e4cc",
    spec=POWERTOOLS,
    pins=(("aws-lambda-powertools", "3.37.0"), ("jmespath", "1.0.1"), ("typing-extensions", "4.16.0")),
    tested_pin=("requirements-test.txt", "\naws-lambda-powertools==3.37.0\n"))  # the handlers' tests import it
LAYERS = (PSYCOPG2_LAYER, MIGRATOR_LAYER, POWERTOOLS_LAYER)
REQUIREMENTS_LAYERS = tuple(layer for layer in LAYERS if layer.spec)


def cache_name(layer: Layer) -> str:
    return f"{layer.cache_stem()}-r{psycopg2_layer.BUILD_REVISION}.zip"


class Counting:
    """A downloader that hands out copies of the stashed wheels (optionally one tampered, or one missing) and counts
    its calls; for a one-wheel layer it returns the one wheel, as that layer's downloader does."""

    def __init__(self, wheels: list[Path], tamper: str | None = None, drop: str | None = None,
                 one_wheel: bool = False):
        self.wheels, self.tamper, self.drop, self.one_wheel, self.calls = wheels, tamper, drop, one_wheel, 0

    @classmethod
    def of(cls, layer: Layer, wheels: list[Path], **options) -> Counting:
        return cls(wheels, one_wheel=layer.one_wheel, **options)

    def __call__(self, spec, dest: Path) -> Path | list[Path]:
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
        return copies[0] if self.one_wheel else copies


class LayerBuilds:
    """Each layer's wheels (downloaded with its real downloader) and its build end to end (real downloader, empty
    cache), each made once, on first use."""

    def __init__(self, tmp_path_factory):
        self._factory = tmp_path_factory
        self._wheels: dict[str, list[Path]] = {}
        self._built: dict[str, LayerArchive] = {}

    def wheels(self, layer: Layer) -> list[Path]:
        if layer.name not in self._wheels:
            self._wheels[layer.name] = layer.download(self._factory.mktemp(f"{layer.name}-wheels"))
        return self._wheels[layer.name]

    def built(self, layer: Layer) -> LayerArchive:
        if layer.name not in self._built:
            self._built[layer.name] = layer.build(cache_dir=self._factory.mktemp(f"{layer.name}-cache"))
        return self._built[layer.name]


def run_from_layer(built: LayerArchive, tmp_path: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    """``code`` run by ``python -S`` (no site-packages: only the standard library) with the layer's ``python/``
    extracted under ``tmp_path`` as ``sys.argv[1]`` and ``args`` after it."""
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(tmp_path)
    return subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path / "python"), *args],
                          capture_output=True, text=True, timeout=60)
