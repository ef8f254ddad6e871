"""The stack's own Powertools layer (code signing is enforced, so AWS's public layer cannot be attached): the pinned
pure-Python wheels of lambda/powertools_layer/requirements.txt (what every layer must be: test_layers.py), without
the runtime's own boto3, enough for the handlers' Logger."""

from __future__ import annotations

import json
import zipfile

from tests.layer_support import POWERTOOLS_LAYER, run_from_layer


def test_the_layer_leaves_boto3_to_the_runtime(layer_builds):
    with zipfile.ZipFile(layer_builds.built(POWERTOOLS_LAYER).path) as archive:
        names = archive.namelist()
        assert not any(name.startswith(("python/boto3/", "python/botocore/")) for name in names)  # the runtime's


def test_the_layers_logger_runs_with_nothing_else_on_the_path(layer_builds, tmp_path):
    """Only the standard library and the layer (python -S: no site-packages): the handlers' import works."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from aws_lambda_powertools import Logger; import aws_lambda_powertools, jmespath, typing_extensions; "
            "assert aws_lambda_powertools.__file__.startswith(sys.argv[1]); "
            "Logger(service='cruddur-layer-check').info('layer ok')")
    result = run_from_layer(layer_builds.built(POWERTOOLS_LAYER), tmp_path, code)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert (line["message"], line["service"], line["level"]) == ("layer ok", "cruddur-layer-check", "INFO")
