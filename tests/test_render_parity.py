"""Quarto is the reference renderer: the built-in engine must build the same book.

The project's whole book is rendered in quick mode by real Quarto (cold in a
fresh clone) and then by the built-in engine (warm from the fit cache); see
the ``quarto_book`` and ``quick_book`` fixtures of conftest.py. Page by page
they must show the same chapter, section, figure, table and equation
numbers, the same cross-reference targets and link texts, and the same
numbers of figures and tables. No page of either may show raw TeX, an
unresolved reference, or build, compiler or sampler output, and Quarto's
log may hold nothing but its progress and the kernel's notice about TCP.

Where Quarto is absent (a user's machine without it) these tests skip with
a message; CI installs Quarto, so there they run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seu_sensitivity.settings import project_root
from seu_sensitivity.render.builtin import render_book
from seu_sensitivity.render.config import load_config
from seu_sensitivity.render.outline import compare_checks, compare_sites, page_outline, site_pages, stray_output
from seu_sensitivity.render.quarto import find_quarto, quarto_arguments
from seu_sensitivity.render.site import page_path
from seu_sensitivity.render.sitecheck import check_page

FIXTURE_BOOK = Path(__file__).parent / "fixtures" / "render" / "book"

#: what Quarto prints while rendering that is not a warning: progress, and the kernel's notice about TCP
_QUARTO_PROGRESS = re.compile(
    r"^(\s*|\[\d+/\d+\] \S+|Done|Executing '[^']+'|\s+Cell \d+/\d+: '[^']*'\.+(Done)?|Output created: \S+"
    r"|Starting python3 kernel\.\.\.(\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption\..*)?(Done)?)$")


def quarto_or_skip() -> str:
    quarto = find_quarto()
    if quarto is None:
        pytest.skip("Quarto not found: install it from https://quarto.org/docs/get-started/ "
                    "(CI installs it with ../shared/tools/quarto/install)")
    return quarto


def unexpected_log_lines(log: str) -> list[str]:
    """Lines of a Quarto log that are neither progress nor the kernel's TCP notice.

    >>> unexpected_log_lines("[1/2] index.qmd\\nStarting python3 kernel...Done\\n[WARNING] Citeproc: citation sec not found")
    ['[WARNING] Citeproc: citation sec not found']
    """
    clean = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return [line for line in clean.splitlines() if not _QUARTO_PROGRESS.match(line)]


# ---------------------------------------------------------------- the fixture book (seconds)

@pytest.fixture(scope="module")
def fixture_sites(tmp_path_factory) -> tuple[Path, Path, str]:
    """The small fixture book built by Quarto and by the built-in engine: (quarto site, built-in site, log)."""
    quarto = quarto_or_skip()
    work = tmp_path_factory.mktemp("fixture-book")
    book = work / "book"
    shutil.copytree(FIXTURE_BOOK, book)
    quarto_site, builtin_site = work / "quarto", work / "builtin"
    done = subprocess.run([quarto, *quarto_arguments(None, quick=False, output_dir=str(quarto_site))], cwd=book,
                          env={**os.environ, "QUARTO_PYTHON": sys.executable}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    render_book(book, None, output_dir=builtin_site, progress=None, kernel_stderr=None)
    return quarto_site, builtin_site, done.stdout + done.stderr


def test_fixture_book_reads_the_same_in_both_engines(fixture_sites):
    quarto_site, builtin_site, _ = fixture_sites
    assert compare_sites(quarto_site, builtin_site, book_title="Fixture Book", names=("Quarto", "built-in")) == []
    # the comparison has something to compare: numbered sections, floats, equations, references
    alpha = page_outline(quarto_site / "one" / "alpha.html", "Fixture Book")
    assert alpha.chapter == "1 Alpha" and alpha.sections[:2] == ["1.1 Introduction", "1.2 Results"]
    assert alpha.floats == {"fig-sine": "1.1", "tbl-summary": "1.1", "tbl-symbols": "1.2"}
    assert alpha.equations == {"eq-softmax": "1.1"} and ("#eq-softmax", "Equation 1.1") in alpha.xrefs
    preface = page_outline(quarto_site / "index.html", "Fixture Book")
    assert preface.chapter == "Preface" and preface.sections == []
    assert alpha.checks and compare_checks(quarto_site, builtin_site, values=True) == []


def test_the_comparison_sees_a_renumbered_page(fixture_sites, tmp_path):
    """A site whose chapter numbers are off by one (the preface numbered) is reported, page by page."""
    quarto_site, builtin_site, _ = fixture_sites
    shifted = tmp_path / "shifted"
    shutil.copytree(builtin_site, shifted)
    page = shifted / "one" / "alpha.html"
    page.write_text(page.read_text(encoding="utf-8").replace("1.1", "2.1"), encoding="utf-8")
    problems = compare_sites(quarto_site, shifted, book_title="Fixture Book")
    assert any(p.startswith("one/alpha.html: sections differ") for p in problems)
    assert any(p.startswith("one/alpha.html: equations differ") for p in problems)


def test_fixture_book_log_has_no_warning(fixture_sites):
    assert unexpected_log_lines(fixture_sites[2]) == []


def test_inline_values_reach_both_engines_alike(fixture_sites):
    """A string value is escaped as Quarto escapes it; a markdown value goes in as markdown."""
    for site in fixture_sites[:2]:
        assert stray_output(site / "one" / "alpha.html") == []


# ---------------------------------------------------------------- the project's book (minutes)

def test_quarto_renders_the_whole_book(quarto_book):
    assert quarto_book.returncode == 0, quarto_book.log[-3000:]
    chapters = load_config(project_root()).chapter_paths()
    assert site_pages(quarto_book.site) == sorted(page_path(chapter) for chapter in chapters)


def test_both_engines_build_the_same_book(quarto_book, quick_book):
    builtin_site, errors = quick_book
    assert quarto_book.returncode == 0 and not errors
    title = load_config(project_root()).title
    assert compare_sites(quarto_book.site, builtin_site, book_title=title, names=("Quarto", "built-in")) == []
    assert compare_checks(quarto_book.site, builtin_site, names=("Quarto", "built-in"), values=True) == []


@pytest.mark.parametrize("engine", ["Quarto", "built-in"])
def test_no_page_shows_raw_tex_unresolved_references_or_build_output(engine, quarto_book, quick_book):
    site = quarto_book.site if engine == "Quarto" else quick_book[0]
    problems = []
    for page in site_pages(site):
        problems += stray_output(site / page) + check_page(site / page)
    assert problems == []


def test_quarto_log_holds_no_warning(quarto_book):
    """No citeproc, crossref or math warning, no sampler or compiler output: progress and the TCP notice only."""
    assert unexpected_log_lines(quarto_book.log) == []
