"""The site around the pages: page template, chapter sidebar, previous/next links, CSS.

Everything is local and every link relative, so the site works from
``file://`` without a network: one CSS file in ``site_libs/``, math as MathML
(native in browsers), no scripts.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template

from .assets import PAGE_TEMPLATE, SITE_CSS
from .convert import escape

CSS_NAME = "site_libs/seu-book.css"


@dataclass(frozen=True)
class PageInfo:
    """One page of the book as the sidebar shows it."""

    source: str  # .qmd path relative to the project root (POSIX)
    page: str  # .html path relative to the site root (POSIX)
    title: str
    number: str | None  # chapter number ("2", "A") or None
    part: str | None

    @property
    def display_title(self) -> str:
        return f"{self.number}\u2002{self.title}" if self.number else self.title


def page_path(source: str) -> str:
    """Output page of a chapter: ``foundations/x.qmd`` -> ``foundations/x.html``."""
    return posixpath.splitext(source)[0] + ".html"


def _href(current: str, target: str) -> str:
    """Relative link from one page of the site to another."""
    return posixpath.relpath(target, posixpath.dirname(current) or ".")


def sidebar_html(pages: list[PageInfo], current: str, book_title: str) -> str:
    """The chapter list, grouped by part, the current page marked."""
    lines = [f'<a class="book-title" href="{_href(current, pages[0].page)}">{escape(book_title)}</a>',
             '<ul class="chapters">']
    part: str | None = None
    for info in pages:
        if info.part != part:
            if part is not None:
                lines.append("</ul></li>")
            part = info.part
            if part is not None:
                part_title = next((p.title for p in pages if p.source == part), part)
                lines.append(f'<li class="part"><span class="part-title">{escape(part_title)}</span><ul>')
            if info.source == part:
                continue
        href = _href(current, info.page)
        css = ' class="active" aria-current="page"' if info.page == current else ""
        lines.append(f'<li><a{css} href="{href}">{escape(info.display_title)}</a></li>')
    if part is not None:
        lines.append("</ul></li>")
    lines.append("</ul>")
    return "\n".join(lines)


def prev_next_html(pages: list[PageInfo], current: str) -> str:
    """Links to the previous and next pages in reading order."""
    index = next(i for i, p in enumerate(pages) if p.page == current)
    links = []
    if index > 0:
        prev = pages[index - 1]
        links.append(f'<a class="prev" rel="prev" href="{_href(current, prev.page)}">'
                     f'\u2190 {escape(prev.display_title)}</a>')
    if index + 1 < len(pages):
        nxt = pages[index + 1]
        links.append(f'<a class="next" rel="next" href="{_href(current, nxt.page)}">'
                     f'{escape(nxt.display_title)} \u2192</a>')
    return f'<nav class="page-navigation">{"".join(links)}</nav>'


def write_page(out_dir: Path, info: PageInfo, pages: list[PageInfo], *, book_title: str,
               toc_html: str, body_html: str) -> Path:
    """Write one HTML page of the site; return its path."""
    target = out_dir / info.page
    target.parent.mkdir(parents=True, exist_ok=True)
    css_href = posixpath.relpath(CSS_NAME, posixpath.dirname(info.page) or ".")
    page = Template(PAGE_TEMPLATE).substitute(
        title=escape(f"{info.display_title} \u2013 {book_title}" if info.title != book_title else book_title),
        css=css_href,
        sidebar=sidebar_html(pages, info.page, book_title),
        toc=toc_html,
        body=body_html,
        navigation=prev_next_html(pages, info.page),
    )
    target.write_text(page, encoding="utf-8")
    return target


def write_assets(out_dir: Path) -> None:
    """Copy the site's CSS into ``site_libs/``."""
    target = out_dir / CSS_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(SITE_CSS, encoding="utf-8")


def copy_resources(chapter_dir: Path, page_dir: Path, sources: list[str]) -> None:
    """Copy images a chapter's markdown refers to (relative paths) next to its page."""
    for src in sources:
        origin = (chapter_dir / src).resolve()
        target = (page_dir / src).resolve()
        if origin.is_file() and origin != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
