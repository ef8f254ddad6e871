"""The docs document what the code declares: the README starts with the two commands, docs/stacks-and-settings.md
has a row for every config key, docs/deploy.md names every stack output."""

import yaml

from ops.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT
README = (ROOT / "README.md").read_text()
SETTINGS_PAGE = (ROOT / "docs" / "stacks-and-settings.md").read_text()
DEPLOY_PAGE = (ROOT / "docs" / "deploy.md").read_text()


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands[:2] == ["./dev up", "./dev test"]


def test_every_declared_config_key_is_documented():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    missing = [key for key in declared if f"| `{key}` |" not in SETTINGS_PAGE]
    assert missing == []


def test_every_stack_output_is_documented(dev):
    missing = [key for key in dev.outputs if f"`{key}`" not in DEPLOY_PAGE]
    assert missing == []
