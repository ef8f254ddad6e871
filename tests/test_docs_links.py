"""The docs hold together: every relative Markdown link in README.md, docs/*.md and runbooks/**/*.md resolves to a
file of this repository, and a ``#anchor`` to a heading of the Markdown file it names (spelled as GitHub spells
heading anchors); the README fits on a screen and links every page of docs/; docs/operations.md indexes every
runbook. Links inside code (fenced blocks, inline code) are not links and are not checked."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from ops.paths import PROJECT_ROOT

ROOT = PROJECT_ROOT
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RUNBOOKS = ROOT / "runbooks"
README_MAX_LINES = 200
SOURCES = sorted([README, *DOCS.glob("*.md"), *RUNBOOKS.rglob("*.md")])

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _prose(text: str) -> tuple[str, list[str]]:
    """The text outside fenced code blocks (inline code removed: a link in code is not a link), and its headings."""
    kept, headings, fenced = [], [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            kept.append("")
            continue
        kept.append("" if fenced else line)
        heading = None if fenced else _HEADING.match(line)
        if heading:
            headings.append(heading.group(1))
    return _CODE_SPAN.sub("", "\n".join(kept)), headings


def slug(heading: str) -> str:
    """A heading's anchor as GitHub spells it: code marks and link targets dropped, lower case, punctuation
    removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.replace("`", ""))
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file's headings; a repeated heading gets -1, -2... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in _prose(path.read_text())[1]:
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file (URLs with a scheme, e.g. https: or mailto:, left out)."""
    return [m.group(1) for m in _LINK.finditer(_prose(path.read_text())[0]) if not _SCHEME.match(m.group(1))]


def resolve(source: Path, target: str) -> tuple[Path, str]:
    """The file a relative link points at, and its anchor ("" when there is none)."""
    file_part, _, anchor = target.partition("#")
    return ((source.parent / unquote(file_part)).resolve() if file_part else source.resolve()), unquote(anchor)


def problems(source: Path, root: Path) -> list[str]:
    """One line per link of ``source`` that does not resolve inside ``root`` (file, then anchor)."""
    found = []
    for target in links(source):
        path, anchor = resolve(source, target)
        if not path.is_relative_to(root.resolve()):
            found.append(f"{target}: outside the repository")
        elif not path.exists():
            found.append(f"{target}: no such file")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
            found.append(f"{target}: no heading with the anchor #{anchor}")
    return found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(source):
    assert problems(source, ROOT) == []


def test_the_checker_finds_broken_links_and_ignores_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## CI/CD: previews and deploys\n\n## Twice\n\n## Twice\n")
    source = tmp_path / "README.md"
    source.write_text(
        "# Title\n\n[ok](docs/page.md) [anchor](docs/page.md#cicd-previews-and-deploys) [second](docs/page.md#twice-1)"
        " [here](#title) [web](https://example.com/x.md) ![img](docs/page.md)\n"
        "[gone](docs/missing.md) [bad anchor](docs/page.md#nope) [out](../elsewhere.md) [`code text`](docs/no.md)\n"
        "`[in code](docs/none.md)`\n\n```bash\n[in a block](docs/none.md)\n# not a heading\n```\n")
    assert problems(source, tmp_path) == [
        "docs/missing.md: no such file", "docs/page.md#nope: no heading with the anchor #nope",
        "../elsewhere.md: outside the repository", "docs/no.md: no such file"]
    assert anchors(tmp_path / "docs" / "page.md") == {"a-page", "cicd-previews-and-deploys", "twice", "twice-1"}
    assert "not-a-heading" not in anchors(source)


def test_readme_fits_a_screen():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_readme_links_every_docs_page():
    linked = {resolve(README, target)[0] for target in links(README)}
    pages = sorted(DOCS.glob("*.md"))
    assert len(pages) >= 8
    assert [p.name for p in pages if p.resolve() not in linked] == []


def test_the_operations_page_indexes_every_runbook():
    page = DOCS / "operations.md"
    linked = {resolve(page, target)[0] for target in links(page)}
    runbooks = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
    assert runbooks
    assert [p.name for p in runbooks if p.resolve() not in linked] == []


def test_every_runbook_and_docs_page_the_code_names_exists():
    """Alarm descriptions, error messages and fix lines send operators to runbooks/ and docs/ pages: each exists."""
    named = set()
    for folder in ("components", "ops", "lambda", "policy"):
        for path in (ROOT / folder).rglob("*.py"):
            named |= set(re.findall(r"\b(?:runbooks|docs)/[A-Za-z0-9_.-]+\.md", path.read_text()))
    named |= set(re.findall(r"\b(?:runbooks|docs)/[A-Za-z0-9_.-]+\.md", (ROOT / "__main__.py").read_text()))
    assert len(named) > 10  # the code does name them
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []
