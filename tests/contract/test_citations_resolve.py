"""Every "why" link in the repository resolves inside it (docs/style.md habit 11).

Code, tests, the README and the docs cite ``docs/<file>.md`` with a section (``§4.3``), a habit
(``docs/style.md habit 4``) or a contract (``docs/architecture.md contract 3``). A reader who clones the
repository must be able to follow each one, so each must name a file that exists and a heading in it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

CITATION = re.compile(r"docs/([a-z0-9_-]+\.md)(?:,? (§|habit |contract )(\d+(?:\.\d+)*))?")
BARE_SECTION = re.compile(r"§ ?(\d+(?:\.\d+)*)")
RFC_CHAIN = re.compile(r"RFC \d+\s+§[\d.]+(?:(?:,\s*|/|\s+and\s+)§[\d.]+)*")


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    return [ROOT / name for name in listed
            if name.endswith((".py", ".md", ".toml", ".cfg")) and (ROOT / name).is_file()]


def _sections(doc: Path) -> set[str]:
    """The numbers a citation may name in ``doc``: ``## 4. ...``, ``### 4.3 ...``, ``### Habit 4: ...`` and
    the numbered items of a list of contracts (``1. **...**``)."""
    numbers: set[str] = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#+ (?:Habit )?(\d+(?:\.\d+)*)[.: ]", line)
        item = re.match(r"(\d+)\. \*\*", line)
        if heading:
            numbers.add(heading.group(1))
        if item:
            numbers.add(item.group(1))
    return numbers


def find_broken(files: list[Path], docs: Path) -> list[str]:
    """Each citation that names a missing file or section, as ``path:line: citation``.

    A bare ``§4.3`` is checked against the sections of every docs/ file; a chain that follows an RFC
    (``RFC 9113 §5.1, §6.9``, even across a line break) is the RFC's, not ours, and is passed over."""
    sections = {doc.name: _sections(doc) for doc in docs.glob("*.md")}
    every_section = set().union(*sections.values()) if sections else set()
    broken = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        ours: set[int] = set()  # where the § of a docs/ citation stands
        for match in CITATION.finditer(text):
            name, _, section = match.groups()
            line = text.count("\n", 0, match.start()) + 1
            if section:
                ours.add(match.start(3))
            if name not in sections:
                broken.append(f"{where}:{line}: {match.group(0)} (no such file in docs/)")
            elif section and section not in sections[name]:
                broken.append(f"{where}:{line}: {match.group(0)} (no such section in docs/{name})")
        theirs = {chain.start() + m.start(1) for chain in RFC_CHAIN.finditer(text)
                  for m in BARE_SECTION.finditer(chain.group(0))}
        for match in BARE_SECTION.finditer(text):
            if match.start(1) in ours or match.start(1) in theirs or match.group(1) in every_section:
                continue
            line = text.count("\n", 0, match.start()) + 1
            broken.append(f"{where}:{line}: {match.group(0)} (no docs/ file has this section)")
    return broken


def test_every_citation_names_a_file_and_section_that_exist() -> None:
    """Issue 13: every citation in code, tests and README resolves to a file and section in this repository."""
    files = [path for path in _tracked_text_files() if path != Path(__file__)]  # its own examples are broken
    assert len(files) > 100  # the walk really found the tree
    assert find_broken(files, DOCS) == []


def test_no_file_points_outside_the_repository() -> None:
    """The team's notebook is not shipped: nothing may send a reader to a path they do not have."""
    outside = re.compile(r"\.\./shared|(?<![\w/])(DESIGN|STYLE)\.md|layout-proposal")
    offenders = [f"{path.relative_to(ROOT)}:{number}" for path in _tracked_text_files()
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if outside.search(line) and path != Path(__file__)]
    assert offenders == []


@pytest.mark.parametrize("text, problem", [
    ("see docs/nowhere.md", "no such file"),
    ("see docs/guide.md §9", "no such section"),
    ("see docs/guide.md habit 2", "no such section"),
    ("the rule in §7.1", "no docs/ file has this section"),
    ("RFC 9113 §1.2, §7.1 and then §7.1", "no docs/ file has this section"),
])
def test_the_checker_can_fail(tmp_path: Path, text: str, problem: str) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## 1. Start\n\n### 1.2 Detail\n\n### Habit 1: one\n", encoding="utf-8")
    source = tmp_path / "module.py"
    source.write_text(f'"""{text}; docs/guide.md §1.2 and habit 1 are fine."""\n', encoding="utf-8")
    broken = find_broken([source], docs)
    assert len(broken) == 1 and problem in broken[0]


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    """The README is the front door into docs/: its links, and the links between docs, reach real files."""
    link = re.compile(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)")
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    targets = [(page, target) for page in pages for target in link.findall(page.read_text(encoding="utf-8"))]
    assert len(targets) > 10  # the README really links into docs/
    assert [f"{page.name} -> {target}" for page, target in targets if not (page.parent / target).exists()] == []
