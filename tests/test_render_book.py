"""Every chapter listed in the project's _quarto.yml executes in quick mode (built-in engine).

The chapter list is read from _quarto.yml when the tests are collected, so
chapters added to the book are tested without editing this file. The site
(the session fixture ``quick_book`` of conftest.py) goes to a temporary
folder; each page is then checked for unresolved references, figures
without images, unknown citations and broken links.
"""

from __future__ import annotations

import pytest

from seu_sensitivity.settings import project_root
from seu_sensitivity.render.config import load_config
from seu_sensitivity.render.site import page_path
from seu_sensitivity.render.sitecheck import check_page

ROOT = project_root()
CHAPTERS = load_config(ROOT).chapter_paths()


def test_the_book_lists_chapters():
    assert CHAPTERS and CHAPTERS[0] == "index.qmd"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders_in_quick_mode(quick_book, chapter):
    out, errors = quick_book
    assert chapter not in errors, errors.get(chapter)
    page = out / page_path(chapter)
    assert page.is_file()
    assert check_page(page) == []
    # a reader of a quick page is told so, at the top
    from seu_sensitivity.book.presets import QUICK_NOTE

    heading = QUICK_NOTE.splitlines()[1].lstrip("# ")
    assert heading in page.read_text(encoding="utf-8"), f"{chapter}: no quick-mode note"


def test_no_chapter_names_a_backend():
    """One book, either backend: the choice is SEU_BACKEND's (paths.backend_setting), never a chapter's."""
    import re

    naming = re.compile(r"""get_backend\(\s*['"]|backend\s*=\s*['"]|PyStanBackend|CmdStanPyBackend""")
    offenders = [f"{chapter}:{number}: {line.strip()}" for chapter in CHAPTERS
                 for number, line in enumerate((ROOT / chapter).read_text(encoding="utf-8").splitlines(), 1)
                 if naming.search(line)]
    assert offenders == []
