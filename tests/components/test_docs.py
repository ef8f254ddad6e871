"""The README documents what the code declares: every config key and every stack output."""

import yaml

from ops.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands[:2] == ["./dev up", "./dev test"]


def test_every_declared_config_key_is_documented():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    missing = [key for key in declared if f"| `{key}` |" not in README]
    assert missing == []


def test_every_stack_output_is_documented(dev):
    missing = [key for key in dev.outputs if f"`{key}`" not in README]
    assert missing == []
