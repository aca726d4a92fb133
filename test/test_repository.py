"""The repository stands alone: every relative link in the documentation resolves inside it, and no tracked
file points at a sibling folder of the checkout that users do not have."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Built from parts so this file does not match itself.
OUTSIDE = "../" + "shared"
# Walked instead of `git ls-files` outside a git checkout (a source tarball): never product files.
NOT_PRODUCT = {".git", ".venv", "node_modules", "build", "install", "log", "out", "__pycache__", ".pytest_cache"}
HTML_ID = re.compile(r"""<a\s[^>]*?(?:name|id)=["']([^"']+)["']""", re.IGNORECASE)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def _inline_text(token) -> str:
    return "".join(child.content for child in token.children or [] if child.type in ("text", "code_inline"))


@cache
def parse(path: Path) -> tuple[list[str], set[str]]:
    """(link targets, anchors) of a Markdown file; code blocks and code spans hold no links."""
    # a dev extra (setup.py); rosdep has no key for it, so a colcon-only test environment skips the link checks
    markdown_it = pytest.importorskip("markdown_it", reason="pip install markdown-it-py (setup.py's dev extra)")
    tokens = markdown_it.MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    targets: list[str] = []
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            slug = github_slug(_inline_text(tokens[i + 1]))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")  # repeated headings get -1, -2, ...
        if tok.type in ("html_block", "html_inline"):
            anchors.update(HTML_ID.findall(tok.content))
        for child in tok.children or []:
            if child.type == "link_open":
                targets.append(str(child.attrs.get("href", "")))
            elif child.type == "image":
                targets.append(str(child.attrs.get("src", "")))
            elif child.type == "html_inline":
                anchors.update(HTML_ID.findall(child.content))
    return targets, anchors


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in parse(doc)[0]:
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:  # http(s), mailto: not this test's business
            continue
        path = (doc.parent / unquote(parts.path)).resolve() if parts.path else doc
        if not path.is_relative_to(root):
            problems.append(f"{target}: outside the repository")
        elif not path.exists():
            problems.append(f"{target}: {path.relative_to(root)} does not exist")
        elif parts.fragment and path.suffix == ".md" and parts.fragment not in parse(path)[1]:
            problems.append(f"{target}: no heading #{parts.fragment} in {path.relative_to(root)}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    assert broken_links(doc) == [], f"{doc.relative_to(ROOT)}: broken links"


def test_link_checker_sees_links_anchors_and_skips_code(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "b.md").write_text("# Set-up: step 1\n\n## Run `make test`\n\n## Run `make test`\n")
    a = folder / "a.md"
    a.write_text(
        "[ok](b.md#set-up-step-1) [ok](b.md#run-make-test-1) [gone](c.md) [bad](b.md#nope) [![i](b.md)](#top)\n"
        '`[not a link](x.md)`\n\n```\n[not a link](y.md)\n```\n<a name="top"></a> [web](https://example.com)\n'
    )
    assert parse(folder / "b.md")[1] == {"set-up-step-1", "run-make-test", "run-make-test-1"}
    targets, anchors = parse(a)
    assert targets == ["b.md#set-up-step-1", "b.md#run-make-test-1", "c.md", "b.md#nope", "#top", "b.md",
                       "https://example.com"]  # fmt: skip
    assert "top" in anchors
    assert broken_links(a, root=folder) == ["c.md: c.md does not exist", "b.md#nope: no heading #nope in b.md"]
    assert broken_links(a, root=folder / "elsewhere")[0] == "b.md#set-up-step-1: outside the repository"


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True, timeout=60
        ).stdout
        return [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and not NOT_PRODUCT.intersection(p.relative_to(ROOT).parts)]


def test_no_tracked_file_refers_outside_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 50, "the file listing is broken"
    needle = OUTSIDE.encode()
    offenders = []
    for path in files:
        if path.is_file():  # a tracked file deleted in the working tree
            for number, line in enumerate(path.read_bytes().splitlines(), 1):
                if needle in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == [], f"refer to {OUTSIDE}, which users do not have: {offenders}"
