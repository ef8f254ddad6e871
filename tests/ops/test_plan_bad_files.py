"""``cruddur plan`` on stack files that are broken rather than wrong: one line naming the file and what is wrong,
exit 2, never a traceback. Through the CLI runner and, for one of them, the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.paths import PROJECT_DIR_ENV
from tests.ops.test_plan import plan, project_copy  # noqa: F401 - the fixture

GOOD = "config:\n  aws:region: eu-west-1\n  cruddur-db:environment: dev\n"


@pytest.mark.parametrize("content,message", [
    (b"config:\n  - aws:region: eu-west-1\n",
     "Pulumi.broken.yaml: config is a list; it must be a mapping of key: value (e.g. cruddur-db:multiAz: true)"),
    (b"- config:\n    aws:region: eu-west-1\n",
     "Pulumi.broken.yaml is a list; a stack file is a mapping with a config: mapping of key: value"),
    (b"just some text\n",
     "Pulumi.broken.yaml is a string; a stack file is a mapping with a config: mapping of key: value"),
    (GOOD.encode() + b"  cruddur-db:dbName: caf\xe9\n",
     "Pulumi.broken.yaml is not UTF-8 text (byte 0xe9 at offset 86); save it as UTF-8"),
    (GOOD.encode() + b"  cruddur-db:deletionProtection: true\n  cruddur-db:deletionProtection: false\n",
     "cannot parse Pulumi.broken.yaml (line 5, column 3): 'cruddur-db:deletionProtection' is set twice (the later "
     "value would silently win)"),
    (GOOD.encode() + b"  cruddur-db:multiAz: [unclosed\n",
     "cannot parse Pulumi.broken.yaml (line 5, column 1): expected ',' or ']', but got '<stream end>'"),
    (GOOD.encode() + b"  cruddur-db:allowedRegions: &r [eu-west-1]\n  cruddur-db:x: *r\n",
     "cannot parse Pulumi.broken.yaml (line 5, column 17): uses a YAML alias (*name); write the value out"),
    (GOOD.encode() + b"  7: seven\n",
     "Pulumi.broken.yaml: config key 7 is not a name; keys look like cruddur-db:multiAz"),
])
def test_a_broken_stack_file_is_one_line_and_exit_2(project_copy, content, message):  # noqa: F811
    (project_copy / "Pulumi.broken.yaml").write_bytes(content)
    result = plan("-s", "broken", project_dir=project_copy)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"cruddur plan: stack 'broken': {message}"]


def test_stack_file_numbers_and_booleans_are_read_as_pulumi_reads_them(project_copy):  # noqa: F811
    """YAML 1.2, like the Pulumi CLI: `1_4` is not a number, `yes` is not a boolean, a typo'd key is named."""
    (project_copy / "Pulumi.odd-dev.yaml").write_text(GOOD + "  cruddur-db:backupRetentionDays: 1_4\n"
                                                  "  cruddur-db:multiAz: yes\n  cruddur-db:multiAZ: true\n")
    result = plan("-s", "odd-dev", project_dir=project_copy)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "cruddur plan: stack 'odd-dev' has bad configuration: cruddur-db:multiAZ is not a setting of this project (a typo "
        "would be silently ignored); did you mean multiAz?; cruddur-db:backupRetentionDays = '1_4': must be a whole "
        "number from 1 to 35; cruddur-db:multiAz = 'yes': must be true or false"]


def test_the_console_script_reports_a_list_config_in_one_line(project_copy):  # noqa: F811
    (project_copy / "Pulumi.broken.yaml").write_bytes(b"config:\n  - aws:region: eu-west-1\n")
    cruddur = Path(sys.executable).with_name("cruddur")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    env[PROJECT_DIR_ENV] = str(project_copy)
    done = subprocess.run([str(cruddur), "plan", "broken"], cwd="/", env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "cruddur plan: stack 'broken': Pulumi.broken.yaml: config is a list; it must be a mapping of key: value "
        "(e.g. cruddur-db:multiAz: true)"]


@pytest.mark.parametrize("content,message", [
    (GOOD.encode() + b"  multiAz: true\n  cruddur-db:multiAz: false\n",
     "Pulumi.broken.yaml: 'multiAz' and 'cruddur-db:multiAz' both set cruddur-db:multiAz (the later value would "
     "silently win); keep one"),
    (GOOD.encode() + b"  cruddur-db:dbName: cruddur\n  dbName: postgres\n",
     "Pulumi.broken.yaml: 'cruddur-db:dbName' and 'dbName' both set cruddur-db:dbName (the later value would "
     "silently win); keep one"),
    (GOOD.encode() + b"".join(b"  cruddur-db:junk%06d: 1\n" % i for i in range(300_000)),
     "Pulumi.broken.yaml is larger than 1024 KiB; a stack file holds a few dozen settings (is it the right file?)"),
])
def test_a_key_set_twice_or_a_huge_file_is_one_line_and_exit_2(project_copy, content, message):  # noqa: F811
    (project_copy / "Pulumi.broken.yaml").write_bytes(content)
    started = time.perf_counter()
    result = plan("-s", "broken", project_dir=project_copy)
    assert time.perf_counter() - started < 5
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"cruddur plan: stack 'broken': {message}"]
