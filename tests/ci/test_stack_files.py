"""The committed stack files and Pulumi.yaml read cleanly with the offline plan's loader: no key set twice (YAML
keeps the later one silently, and `pulumi up` cannot see it), no alias, UTF-8, a config mapping."""

from __future__ import annotations

import pytest

from ops.offline.stack_eval import StackFileError, load_yaml_file, parse_yaml
from tests.ci.ci_helpers import ROOT

FILES = sorted(ROOT.glob("Pulumi*.yaml"))


def test_there_are_stack_files_to_check():
    assert {p.name for p in FILES} >= {"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_committed_file_has_no_duplicate_keys_and_a_config_mapping(path):
    doc = load_yaml_file(path)  # raises StackFileError on a duplicate key, an alias or bad UTF-8
    assert isinstance(doc, dict) and isinstance(doc["config"], dict)


def test_the_loader_refuses_a_key_set_twice_at_any_depth():
    with pytest.raises(StackFileError) as caught:
        parse_yaml("config:\n  cruddur-db:organization:\n    targetId: ou-ab12-cd34ef56\n"
                   "    targetId: r-ab12\n", "Pulumi.x.yaml")
    assert str(caught.value) == ("cannot parse Pulumi.x.yaml (line 4, column 5): 'targetId' is set twice (the later "
                                 "value would silently win)")
