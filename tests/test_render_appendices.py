"""Appendices (``book: appendices:``) in the built-in engine: lettered as Quarto letters them.

Quarto numbers appendices A, B, ... after the chapters: the heading reads
"Appendix A — Title", sections A.1, A.1.1, floats and equations A.1, a
reference to the appendix itself "Appendix A", and the sidebar groups the
appendices under "Appendices". The built-in engine must give the same
pages; where Quarto is installed, the two builds are compared directly.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from seu_sensitivity.render.builtin import render_book
from seu_sensitivity.render.config import load_config
from seu_sensitivity.render.outline import compare_sites, page_outline
from seu_sensitivity.render.quarto import find_quarto

BOOK = {
    "_quarto.yml": (
        "project:\n  type: book\nbook:\n  title: Tiny\n  chapters:\n    - index.qmd\n"
        "    - part: Part one\n      chapters:\n        - a.qmd\n"
        "  appendices:\n    - app/first.qmd\n    - app/second.qmd\n"
        "format:\n  html:\n    number-sections: true\n    html-math-method: mathml\n"
    ),
    "index.qmd": "# Preface {.unnumbered}\n\nHello.\n",
    "a.qmd": ("---\ntitle: Chapter one\n---\n\n"
              "See @sec-app, @sec-app-x, @sec-app2-y, @eq-app-e and @tbl-app-t.\n\n## Sec {#sec-a}\n\nText.\n"),
    "app/first.qmd": ("# The appendix {#sec-app}\n\n## X {#sec-app-x}\n\n### Deeper {#sec-app-x-deep}\n\n"
                      "$$\nx = 1\n$$ {#eq-app-e}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n: T {#tbl-app-t}\n\n"
                      "Back to @sec-a and @sec-app-x-deep.\n"),
    "app/second.qmd": "---\ntitle: Second\n---\n\n## Y {#sec-app2-y}\n\nText.\n",
}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("appendix_book")
    for name, text in BOOK.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def site(book, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("appendix_site")
    render_book(book, output_dir=out, progress=None, kernel_stderr=None)
    return out


def test_config_marks_the_appendices(book):
    entries = load_config(book).chapters
    assert [(e.path, e.appendix) for e in entries] == [
        ("index.qmd", False), ("a.qmd", False), ("app/first.qmd", True), ("app/second.qmd", True)]


def test_appendices_are_lettered_like_quarto(site):
    first = page_outline(site / "app" / "first.html", "Tiny")
    assert first.chapter == "Appendix A \u2014 The appendix"
    assert first.sections == ["A.1 X", "A.1.1 Deeper"]
    assert first.equations == {"eq-app-e": "A.1"}
    assert first.floats == {"tbl-app-t": "A.1"}
    assert ("../a.html#sec-a", "Section 1.1") in first.xrefs
    assert page_outline(site / "app" / "second.html", "Tiny").sections == ["B.1 Y"]


def test_references_to_appendices_read_as_quarto_writes_them(site):
    xrefs = dict((text, target) for target, text in page_outline(site / "a.html", "Tiny").xrefs)
    assert xrefs == {"Appendix A": "app/first.html", "Section A.1": "app/first.html#sec-app-x",
                     "Section B.1": "app/second.html#sec-app2-y", "Equation A.1": "app/first.html#eq-app-e",
                     "Table A.1": "app/first.html#tbl-app-t"}


def test_sidebar_groups_the_appendices(site):
    html = (site / "a.html").read_text(encoding="utf-8")
    group = html[html.index('<span class="part-title">Appendices</span>'):]
    group = group[: group.index("</ul>")]
    assert "A\u2002The appendix" in group and "B\u2002Second" in group
    assert "Chapter one" not in group


@pytest.mark.skipif(find_quarto() is None, reason="Quarto is not installed: no reference build to compare with")
def test_same_pages_as_quarto(book, site, tmp_path):
    quarto = find_quarto()
    out = tmp_path / "quarto_site"
    subprocess.run([str(quarto), "render", "--output-dir", str(out)], cwd=book, check=True, capture_output=True)
    assert compare_sites(out, site, book_title="Tiny", names=("Quarto", "built-in")) == []
