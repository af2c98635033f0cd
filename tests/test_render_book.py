"""Every chapter listed in the project's _quarto.yml executes in quick mode (built-in engine).

The chapter list is read from _quarto.yml when the tests are collected, so
chapters added to the book are tested without editing this file. The site
goes to a temporary folder; each page is then checked for unresolved
references, figures without images, unknown citations and broken links.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seu_sensitivity.paths import project_root
from seu_sensitivity.render import RenderError
from seu_sensitivity.render.builtin import render_book
from seu_sensitivity.render.config import load_config
from seu_sensitivity.render.site import page_path
from seu_sensitivity.render.sitecheck import check_page

ROOT = project_root()
CHAPTERS = load_config(ROOT).chapter_paths()


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The whole book rendered chapter by chapter (so that one failure does not hide the others)."""
    out = tmp_path_factory.mktemp("book")
    errors: dict[str, str] = {}
    for chapter in CHAPTERS:
        try:
            render_book(ROOT, [chapter], quick=True, output_dir=out, progress=None, kernel_stderr=None)
        except RenderError as exc:
            errors[chapter] = str(exc)
    return out, errors


def test_the_book_lists_chapters():
    assert CHAPTERS and CHAPTERS[0] == "index.qmd"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_in_quick_mode(book, chapter):
    out, errors = book
    assert chapter not in errors, errors.get(chapter)
    page = out / page_path(chapter)
    assert page.is_file()
    assert check_page(page) == []
