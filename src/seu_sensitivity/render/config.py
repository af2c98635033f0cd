"""Read a Quarto book project (``_quarto.yml``): title, chapters, parts, bibliography."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import RenderError

CONFIG_NAME = "_quarto.yml"


@dataclass(frozen=True)
class ChapterEntry:
    """One page of the book, in reading order.

    ``path`` is relative to the project root (POSIX form, e.g. ``foundations/x.qmd``);
    ``part`` is the title of the part it belongs to (``None`` outside parts);
    ``appendix`` marks chapters listed under ``book.appendices``.
    """

    path: str
    part: str | None = None
    appendix: bool = False


@dataclass
class BookConfig:
    """What the built-in engine needs from ``_quarto.yml``."""

    root: Path
    title: str
    subtitle: str | None = None
    author: str | None = None
    chapters: list[ChapterEntry] = field(default_factory=list)
    bibliography: list[Path] = field(default_factory=list)
    output_dir: str = "_book"
    html_options: dict[str, Any] = field(default_factory=dict)
    execute: dict[str, Any] = field(default_factory=dict)

    def chapter_paths(self) -> list[str]:
        """The chapters' paths (relative to the root), in reading order."""
        return [entry.path for entry in self.chapters]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _chapter_entries(items: Any, where: str, appendix: bool = False) -> list[ChapterEntry]:
    entries: list[ChapterEntry] = []
    for position, item in enumerate(_as_list(items), start=1):
        if isinstance(item, str):
            entries.append(ChapterEntry(item, None, appendix))
        elif isinstance(item, dict) and "part" in item:
            part = str(item["part"])
            if part.endswith((".qmd", ".md")):
                # a part given as a page: the page opens the part, its title names it
                entries.append(ChapterEntry(part, part, appendix))
            for chapter in _as_list(item.get("chapters")):
                if not isinstance(chapter, str):
                    raise RenderError(f"{where}: part {part!r}: chapters must be file names, got {chapter!r}")
                entries.append(ChapterEntry(chapter, part, appendix))
        elif isinstance(item, dict) and "href" in item:
            entries.append(ChapterEntry(str(item["href"]), None, appendix))
        else:
            raise RenderError(f"{where}: entry {position} must be a file name or a 'part:' with 'chapters:', got {item!r}")
    return entries


def load_config(root: Path | str) -> BookConfig:
    """Read ``<root>/_quarto.yml``; raise :class:`RenderError` naming the field at fault.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a").mkdir()
    >>> for name in ["index.qmd", "a/b.qmd", "refs.bib"]:
    ...     _ = (d / name).write_text("")
    >>> _ = (d / "_quarto.yml").write_text(
    ...     "book:\\n  title: T\\n  chapters:\\n    - index.qmd\\n"
    ...     "    - part: P\\n      chapters: [a/b.qmd]\\nbibliography: refs.bib\\n")
    >>> cfg = load_config(d)
    >>> cfg.title, cfg.chapter_paths(), cfg.chapters[1].part, [b.name for b in cfg.bibliography]
    ('T', ['index.qmd', 'a/b.qmd'], 'P', ['refs.bib'])
    """
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    if not path.is_file():
        raise RenderError(f"{path}: not found (is {root} a Quarto book project?)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RenderError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected a mapping at the top level")
    book = data.get("book") or {}
    if not isinstance(book, dict):
        raise RenderError(f"{path}: 'book' must be a mapping")
    chapters = _chapter_entries(book.get("chapters"), f"{path}: book.chapters")
    chapters += _chapter_entries(book.get("appendices"), f"{path}: book.appendices", appendix=True)
    if not chapters:
        raise RenderError(f"{path}: book.chapters is empty")
    for entry in chapters:
        if not (root / entry.path).is_file():
            raise RenderError(f"{path}: chapter {entry.path!r} not found")
    bibliography = [root / str(b) for b in _as_list(data.get("bibliography"))]
    for bib in bibliography:
        if not bib.is_file():
            raise RenderError(f"{path}: bibliography {bib.name!r} not found")
    project = data.get("project") or {}
    fmt = (data.get("format") or {})
    html = fmt.get("html") if isinstance(fmt, dict) else None
    author = book.get("author")
    return BookConfig(
        root=root,
        title=str(book.get("title") or data.get("title") or root.name),
        subtitle=book.get("subtitle"),
        author=", ".join(map(str, author)) if isinstance(author, list) else author,
        chapters=chapters,
        bibliography=bibliography,
        output_dir=str(project.get("output-dir") or "_book"),
        html_options=html if isinstance(html, dict) else {},
        execute=dict(data.get("execute") or {}),
    )
