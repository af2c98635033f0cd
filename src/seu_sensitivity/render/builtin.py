"""The built-in engine: the book without Quarto.

For each chapter listed in ``_quarto.yml``: execute its cells in a Jupyter
kernel (:mod:`.execute`), convert the result with pandoc (:mod:`.convert`),
and write the page with the book's sidebar (:mod:`.site`). Labels of all
chapters are collected first, from their sources, so that references across
chapters resolve even when only some chapters are rendered. Pages are written
as soon as they are built: when a chapter fails, the pages before it remain.
"""

from __future__ import annotations

import os
import re
import string
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import RenderError
from .config import BookConfig, ChapterEntry, load_config
from .convert import Label, convert_chapter, scan_labels
from .execute import execute_document, markdown_without_execution
from .qmd import Markdown, QmdDocument, parse_qmd
from .site import PageInfo, copy_resources, page_path, write_assets, write_page

_TITLE_HEADING = re.compile(r"^#[ \t]+(?P<title>.+?)(?:[ \t]+\{(?P<attrs>[^}]*)\})?[ \t]*$", re.M)


@dataclass
class Chapter:
    """A chapter ready to render: its parsed source, page and title label."""

    entry: ChapterEntry
    doc: QmdDocument
    info: PageInfo
    title_id: str


@dataclass
class ChapterTiming:
    """Wall times of one rendered chapter, in seconds."""

    source: str
    execute: float
    convert: float

    @property
    def total(self) -> float:
        return self.execute + self.convert


def _title_and_attrs(doc: QmdDocument) -> tuple[str, str]:
    """The chapter's title and its ``{...}`` attributes.

    From the front matter's ``title``, or else from a first ``# Title {#sec-x}``
    heading of the text, which is then removed from the body (Quarto's two ways).
    """
    title = doc.title
    if title is not None:
        match = re.match(r"^(.*?)\s*\{([^}]*)\}\s*$", title)
        return (match.group(1), match.group(2)) if match else (title, "")
    for block in doc.blocks:
        if isinstance(block, Markdown):
            match = _TITLE_HEADING.search(block.text)
            if match and not block.text[:match.start()].strip():
                block.text = block.text[match.end():]
                return match.group("title"), match.group("attrs") or ""
            if block.text.strip():
                break
        else:
            break
    return doc.path.stem.replace("_", " ").replace("-", " ").capitalize(), ""


#: the sidebar's heading over the appendices (Quarto's default, English)
APPENDICES_TITLE = "Appendices"


def _appendix_letter(index: int) -> str:
    return string.ascii_uppercase[index % 26]


def plan_chapters(config: BookConfig) -> list[Chapter]:
    """Parse every chapter of the book and give each its page, title and number.

    Part pages and chapters marked ``{.unnumbered}`` (or ``number-sections:
    false``) are unnumbered; appendices are lettered. As in Quarto, the
    preface (``index.qmd``) is numbered like any chapter unless it is marked.
    """
    chapters: list[Chapter] = []
    number = appendix = 0
    for entry in config.chapters:
        doc = parse_qmd(config.root / entry.path)
        title, attrs = _title_and_attrs(doc)
        ident = next((a[1:] for a in attrs.split() if a.startswith("#")), "")
        unnumbered = (entry.path == entry.part
                      or ".unnumbered" in attrs.split() or "-" in attrs.split()
                      or doc.front_matter.get("number-sections") is False
                      or doc.front_matter.get("unnumbered") is True)
        chapter_number: str | None = None
        if not unnumbered and entry.appendix:
            chapter_number = _appendix_letter(appendix)
            appendix += 1
        elif not unnumbered:
            number += 1
            chapter_number = str(number)
        # as in Quarto's sidebar, appendices outside a part are grouped under "Appendices"
        part = entry.part if entry.part or not entry.appendix else APPENDICES_TITLE
        info = PageInfo(entry.path, page_path(entry.path), title, chapter_number, part)
        chapters.append(Chapter(entry, doc, info, ident))
    return chapters


def collect_labels(chapters: list[Chapter]) -> dict[str, Label]:
    """Labels of every chapter, from the sources (no execution); duplicates are an error."""
    labels: dict[str, Label] = {}
    for chapter in chapters:
        found = scan_labels(markdown_without_execution(chapter.doc), title=chapter.info.title,
                            chapter_number=chapter.info.number, page=chapter.info.page,
                            where=chapter.entry.path, title_id=chapter.title_id)
        for key, label in found.items():
            if key in labels and labels[key].page != label.page:
                raise RenderError(f"{chapter.entry.path}: label {key!r} is also defined in {labels[key].page}")
            labels[key] = label
    return labels


def select_chapters(config: BookConfig, chapters: list[Chapter], files: list[str] | None) -> list[Chapter]:
    """The chapters named by ``files`` (paths relative to the working directory or the root)."""
    if not files:
        return chapters
    by_path = {(config.root / c.entry.path).resolve(): c for c in chapters}
    selected = []
    for name in files:
        candidates = [Path(name).resolve(), (config.root / name).resolve()]
        chapter = next((by_path[c] for c in candidates if c in by_path), None)
        if chapter is None:
            raise RenderError(f"{name}: not a chapter of the book (see book.chapters in {config.root / '_quarto.yml'})")
        if chapter not in selected:
            selected.append(chapter)
    return selected


def default_jobs() -> int:
    """Chapters executed at once by default: two when the machine has two cores or more.

    Each chapter runs in its own kernel, and a chapter that fits Stan models
    already runs its chains in parallel, so more kernels than this rarely help.
    """
    return max(1, min(2, os.cpu_count() or 1))


def render_book(root: Path | str, files: list[str] | None = None, *, quick: bool = False,
                output_dir: Path | str | None = None, progress: TextIO | None = sys.stdout,
                kernel_stderr: TextIO | None = sys.stderr, kernel_name: str = "python3",
                jobs: int | None = None) -> list[ChapterTiming]:
    """Render the book (or the chapters in ``files``) into ``output_dir`` (default ``_book/``).

    Up to ``jobs`` chapters execute at once, each in its own kernel (default
    :func:`default_jobs`); pages are converted and written in book order as
    their chapters finish. After a chapter fails no further chapter starts;
    chapters already running are left to finish (their fits are cached) but
    not written, and while they run the failure is reported on ``progress``
    at once. Raises :class:`RenderError` at the first failure in book order;
    the pages written before it remain. Returns the time each chapter took
    (execution times overlap when ``jobs`` > 1).
    """
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    config = load_config(root)
    out_dir = Path(output_dir) if output_dir else config.root / config.output_dir
    out_dir = out_dir.resolve()
    chapters = plan_chapters(config)
    selected = select_chapters(config, chapters, files)
    labels = collect_labels(chapters)
    pages = [c.info for c in chapters]
    write_assets(out_dir)
    # cell option defaults: format.html.code-fold, then the book's execute: options
    defaults = {"code-fold": config.html_options.get("code-fold", False), **config.execute}
    say = threading.Lock()

    def report(line: str) -> None:
        if progress is not None:
            with say:
                progress.write(line)
                progress.flush()

    failed = threading.Event()
    running: list[str] = []  # chapters executing now, in start order (guarded by ``say``)

    def execute(position: int, chapter: Chapter):
        where = chapter.entry.path
        with say:
            if failed.is_set():
                return None  # an earlier-started chapter failed: the loop below raises its error first
            running.append(where)
        report(f"[{position}/{len(selected)}] {where} ...\n")
        page_dir = (out_dir / chapter.info.page).parent
        try:
            return execute_document(chapter.doc, page_dir, quick=quick, display_name=where,
                                    kernel_name=kernel_name, progress=kernel_stderr, defaults=defaults)
        except BaseException as exc:
            with say:
                failed.set()
                others = [name for name in running if name != where]
            if others:  # otherwise the error is raised as soon as the chapters before it are written
                report(f"[{position}/{len(selected)}] {where} failed: {exc}\n"
                       f"no further chapter starts; waiting for {', '.join(others)} to finish\n")
            raise
        finally:
            with say:
                running.remove(where)

    timings: list[ChapterTiming] = []
    pool = ThreadPoolExecutor(max_workers=min(jobs, max(1, len(selected))), thread_name_prefix="seu-chapter")
    try:
        futures = [pool.submit(execute, position, chapter) for position, chapter in enumerate(selected, start=1)]
        for position, (chapter, future) in enumerate(zip(selected, futures), start=1):
            where = chapter.entry.path
            executed = future.result()  # re-raises the chapter's RenderError
            if executed is None:  # skipped after a failure; that chapter started earlier, so it raised above
                raise RenderError(f"{where}: not executed because another chapter failed")
            started = time.perf_counter()
            page, own, images = convert_chapter(executed.markdown, title=chapter.info.title,
                                                chapter_number=chapter.info.number, page=chapter.info.page,
                                                labels=labels, bibliography=config.bibliography, where=where,
                                                title_id=chapter.title_id)
            labels.update(own)
            page_dir = (out_dir / chapter.info.page).parent
            copy_resources(chapter.doc.path.parent, page_dir, images)
            target = write_page(out_dir, chapter.info, pages, book_title=config.title,
                                toc_html=page.toc_html, body_html=page.body_html)
            timing = ChapterTiming(where, executed.seconds, time.perf_counter() - started)
            timings.append(timing)
            report(f"[{position}/{len(selected)}] {where}: {timing.total:.1f} s "
                   f"(execute {timing.execute:.1f} s, convert {timing.convert:.1f} s) -> "
                   f"{target.relative_to(out_dir).as_posix()}\n")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # chapters not started yet never start
    return timings
