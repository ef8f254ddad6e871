"""ruff, the Python linter of `./dev lint` (so of .ci/run and the checks jobs): pinned, configured in pyproject.toml
for the code's 120 columns with the security rules on, and biting on a deliberately bad file; every noqa comment in the
tree names the rule it silences."""

from __future__ import annotations

import re
import tomllib

from tests.ci.ci_helpers import ROOT, run_ruff


def test_ruff_is_pinned_and_dev_lint_runs_it_after_the_workflow_linters():
    pins = [line for line in (ROOT / "requirements-test.txt").read_text().splitlines() if line.startswith("ruff")]
    assert len(pins) == 1 and re.fullmatch(r"ruff==\d+\.\d+\.\d+", pins[0])
    dev = (ROOT / "dev").read_text()
    assert ".venv/bin/ruff check --no-cache --output-format=concise ." in dev
    assert "--statistics" in dev  # the count per rule when it fails
    assert '  lint)    ensure_venv; lint_all ;;' in dev
    body = dev[dev.index("lint_all() {"):]
    assert body.index("lint_workflows ||") < body.index("lint_python ||") < body.index("return 1")


def test_the_ruff_configuration_matches_the_code_and_keeps_the_security_rules():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert conf["line-length"] == 120
    assert conf["target-version"] == "py311"
    assert {"E", "W", "F", "I", "B", "UP", "S", "RUF100"} <= set(conf["lint"]["select"])
    assert conf["lint"]["ignore"] == ["S603", "N818"]  # N818 is naming only; no security rule is ignored
    assert conf["lint"]["pycodestyle"]["max-line-length"] == 130
    ignores = conf["lint"]["per-file-ignores"]
    # Production code keeps every bandit rule but the subprocess one; only tests and benchmarks may assert.
    assert set(ignores) == {"tests/**", "bench/**", "**/aws_mocks.py", "**/seed.py"}
    assert ignores["**/aws_mocks.py"] == ["S105"] and ignores["**/seed.py"] == ["S311"]


def test_ruff_reports_a_deliberately_bad_file(tmp_path):
    bad = tmp_path / "ops" / "bad.py"
    bad.parent.mkdir()
    bad.write_text(
        "import os\n"
        "import subprocess\n"
        "\n"
        "\n"
        "def run(cmd):\n"
        "    password = \"hunter2\"\n"
        "    return subprocess.call(cmd, shell=True)\n")
    result = run_ruff("--config", str(ROOT / "pyproject.toml"), str(bad), cwd=tmp_path)
    assert result.returncode == 1
    codes = set(re.findall(r": ([A-Z]+\d+) ", result.stdout))
    assert {"F401", "F841", "S602", "S105"} <= codes, result.stdout


def test_the_pipeline_s_own_python_has_no_findings():
    result = run_ruff("ops/preview_guard.py", "tests/ci")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_noqa_names_the_rule_it_silences():
    bare = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "build"} or "venv" in rel.parts:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.search(r"#\s*noqa(?!:\s*[A-Z]+\d+)", line, re.IGNORECASE):
                bare.append(f"{rel}:{n}")
    assert bare == []
