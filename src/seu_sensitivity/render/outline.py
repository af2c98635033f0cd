"""What a built page shows a reader, engine-neutral: numbers, labels, references, outputs.

Quarto and the built-in engine write different HTML around the same
content. :func:`page_outline` reads either into one :class:`PageOutline`
(chapter and section numbers and titles, figure, table and equation numbers
by label, cross-reference targets and texts, counts), so that two sites can
be compared page by page with :func:`compare_sites`. :func:`stray_output`
lists what no reader should see: raw TeX, unresolved references, and
build, compiler or sampler output in a cell's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["PageOutline", "page_outline", "compare_sites", "compare_checks", "site_pages", "stray_output"]

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_FLOAT_ID = re.compile(r"^(fig|tbl)-(?![\w-]*-caption-)[\w-]+$")
_FLOAT_NUMBER = re.compile(r"^\s*(Figure|Table)\s+([\w.]+):")
_EQ_NUMBER = re.compile(r"\\qquad\s*\(([\w.]+)\)\s*$")
#: text a reader should never meet outside code and math
_RAW_TEX = re.compile(r"\$[^$\s](?:[^$\n]*[^$\s])?\$(?!\d)|\\[A-Za-z]{2,}|\\[-.,_{}]")  # pandoc's rule for $…$
_UNRESOLVED = re.compile(r"\?@[\w-]+|\((?:sec|fig|tbl|eq)\?\)|\b(?:sec|fig|tbl|eq)\?")
#: signs of a compiler, of PyStan's or CmdStan's progress, or of a Python warning in a cell's output
_BUILD_OUTPUT = re.compile(
    r"Building:|Sampling:|Messages (?:from|received)|In file included|warning:|\bg\+\+|\bstanc\b|"
    r"INFO:cmdstanpy|Gradient evaluation|Iteration:\s+\d|Chain \[\d|pkg_resources|"
    r"(?:User|Future|Deprecation|Runtime)Warning|site-packages|\d+%\|")


def _space(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


@dataclass
class PageOutline:
    """A page as a reader sees its structure.

    ``chapter`` is "number title" (just the title when unnumbered);
    ``sections`` "number title" of every numbered section; ``floats`` and
    ``equations`` map a label to its number; ``xrefs`` lists (target, link
    text) of every cross-reference; ``figures``/``tables`` count the floats,
    ``math`` the MathML elements.
    """

    chapter: str = ""
    sections: list[str] = field(default_factory=list)
    floats: dict[str, str] = field(default_factory=dict)
    equations: dict[str, str] = field(default_factory=dict)
    xrefs: list[tuple[str, str]] = field(default_factory=list)
    figures: int = 0
    tables: int = 0
    math: int = 0
    #: text outside code and math, and the text of every cell output (with its classes)
    prose: list[str] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    #: rows of the chapter's proposition-checks table: check, value, expected, tolerance, passed, note
    checks: list[tuple[str, ...]] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self, book_title: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.book_title = book_title
        self.outline = PageOutline()
        self.stack: list[tuple[str, dict[str, str]]] = []
        # open elements whose text is wanted: (kind, the element's attributes, extra, text so far)
        self.captures: list[tuple[str, dict[str, str], str, list[str]]] = []
        self.open_float: list[str] = []
        self.in_main = False
        self.in_checks = False  # inside the proposition-checks table
        self.check_row: list[str] | None = None

    def _capture(self, kind: str, attr: dict[str, str], extra: str = "") -> None:
        """Collect the text of the element with ``attr`` until it closes."""
        self.captures.append((kind, attr, extra, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = attr.get("class", "").split()
        ident = attr.get("id", "")
        if tag == "main":
            self.in_main = True
        if tag in _VOID:
            return
        self.stack.append((tag, attr))
        if not self.in_main:
            return
        if tag == "math":
            self.outline.math += 1
        if re.fullmatch(r"h[1-6]", tag) and ident not in ("toc-title", "bibliography"):
            self._capture(tag, attr)
        if _FLOAT_ID.match(ident):
            kind = ident.split("-", 1)[0]
            self.outline.figures += kind == "fig"
            self.outline.tables += kind == "tbl"
            self.open_float.append(ident)
            self.outline.floats.setdefault(ident, "")
        # Quarto captions every float with <figcaption>; the built-in engine tables with a div or <caption>
        if (tag in ("figcaption", "caption") or "float-caption" in classes) and self.open_float:
            self._capture("caption", attr, self.open_float[-1])
        if ident.startswith("eq-"):
            self._capture("equation", attr, ident)
        if tag == "a" and "quarto-xref" in classes:
            self._capture("xref", attr)
        if "cell-output" in classes:
            self._capture("output", attr)
        if tag == "table" and "proposition-checks" in classes:
            self.in_checks = True
        if self.in_checks:
            if tag == "tr":
                self.check_row = []
            elif tag == "td" and self.check_row is not None:
                self._capture("check-cell", attr)

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.in_main = False
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] != tag:
                continue
            closing = self.stack[i:]
            del self.stack[i:]
            for closed_tag, attr in reversed(closing):
                self._close(attr, closed_tag)
            break

    def _close(self, attr: dict[str, str], tag: str = "") -> None:
        ident = attr.get("id", "")
        if self.in_checks:
            if tag == "tr" and self.check_row:
                self.outline.checks.append(tuple(self.check_row))
                self.check_row = None
            elif tag == "table":
                self.in_checks = False
        if self.open_float and ident == self.open_float[-1]:
            self.open_float.pop()
        for index in range(len(self.captures) - 1, -1, -1):
            kind, captured_attr, extra, text = self.captures[index]
            if captured_attr is attr:
                del self.captures[index]
                self._finish(kind, captured_attr, extra, "".join(text))

    def _finish(self, kind: str, attr: dict[str, str], extra: str, text: str) -> None:
        out = self.outline
        if kind.startswith("h"):
            title = _space(text)
            if title and title != self.book_title and kind == "h1" and not out.chapter:
                out.chapter = title
            elif kind != "h1" and re.match(r"^[\w.]*\d[\w.]*\s", title):
                out.sections.append(title)
        elif kind == "caption":
            match = _FLOAT_NUMBER.match(_space(text))
            if match and not out.floats.get(extra):
                out.floats[extra] = match.group(2)
        elif kind == "equation":
            match = _EQ_NUMBER.search(text.strip())
            out.equations[extra] = match.group(1) if match else ""
        elif kind == "xref":
            out.xrefs.append((attr.get("href", ""), _space(text)))
        elif kind == "output":
            out.outputs.append((attr.get("class", ""), text.strip()))
        elif kind == "check-cell" and self.check_row is not None:
            self.check_row.append(_space(text))

    def handle_data(self, data: str) -> None:
        if not self.in_main:
            return
        for *_, text in self.captures:
            text.append(data)
        tags = [tag for tag, _ in self.stack]
        if not any(tag in ("pre", "code", "script", "style", "math") for tag in tags):
            self.outline.prose.append(data)


def page_outline(path: Path | str, book_title: str | None = None) -> PageOutline:
    """Read one built page (Quarto's or the built-in engine's) into a :class:`PageOutline`.

    ``book_title`` is skipped where Quarto repeats it as the heading of the index page.
    """
    reader = _Reader(book_title)
    reader.feed(Path(path).read_text(encoding="utf-8"))
    reader.close()
    return reader.outline


def site_pages(site: Path | str) -> list[str]:
    """The HTML pages of a built site, relative to it (Quarto's and pandoc's support files left out)."""
    site = Path(site)
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if "site_libs" not in p.parts)


def compare_sites(first: Path | str, second: Path | str, *, book_title: str | None = None,
                  names: tuple[str, str] = ("first", "second")) -> list[str]:
    """Differences a reader would notice between two builds of one book, page by page.

    The same pages; per page the same chapter, section, figure, table and
    equation numbers, the same cross-reference targets and link texts, the
    same numbers of figures and tables. An empty list when they agree.
    """
    a_name, b_name = names
    a_pages, b_pages = site_pages(first), site_pages(second)
    problems = [f"page {p} only in the {a_name} site" for p in a_pages if p not in b_pages]
    problems += [f"page {p} only in the {b_name} site" for p in b_pages if p not in a_pages]
    for page in (p for p in a_pages if p in b_pages):
        a = page_outline(Path(first) / page, book_title)
        b = page_outline(Path(second) / page, book_title)
        for name in ("chapter", "sections", "floats", "equations", "xrefs", "figures", "tables"):
            a_value, b_value = getattr(a, name), getattr(b, name)
            if a_value != b_value:
                problems.append(f"{page}: {name} differ: {a_name} {_diff(a_value, b_value)}, "
                                f"{b_name} {_diff(b_value, a_value)}")
    return problems


def compare_checks(first: Path | str, second: Path | str, *, names: tuple[str, str] = ("first", "second"),
                   values: bool = False) -> list[str]:
    """Pages whose proposition checks differ between two builds: which checks ran and whether each passed.

    With ``values=True`` the checked values must agree too (two backends that
    give the same draws give the same values).
    """
    a_name, b_name = names
    problems: list[str] = []
    keep = (lambda row: row) if values else (lambda row: (row[0], row[4]))
    second_pages = set(site_pages(second))
    for page in (p for p in site_pages(first) if p in second_pages):
        a = [keep(row) for row in page_outline(Path(first) / page).checks]
        b = [keep(row) for row in page_outline(Path(second) / page).checks]
        if a != b:
            problems.append(f"{page}: proposition checks differ: {a_name} {_diff(a, b)}, {b_name} {_diff(b, a)}")
    return problems


def _diff(value, other) -> str:
    """The part of ``value`` that ``other`` lacks (all of it for scalars), for short messages."""
    if isinstance(value, dict):
        return repr({k: v for k, v in value.items() if other.get(k) != v})
    if isinstance(value, list):
        return repr([v for v in value if v not in other] or value[:3])
    return repr(value)


def stray_output(path: Path | str) -> list[str]:
    """What a reader should not meet on a page: raw TeX, unresolved references, build or sampler output.

    Also error and warning streams in any cell output, and bare ``True``/``False`` results.
    """
    outline = page_outline(path)
    name = Path(path).name
    problems: list[str] = []
    prose = " ".join(outline.prose)
    for match in sorted(set(m.group(0) for m in _RAW_TEX.finditer(prose))):
        problems.append(f"{name}: raw TeX in the text: {match!r}")
    for match in sorted(set(m.group(0) for m in _UNRESOLVED.finditer(prose))):
        problems.append(f"{name}: unresolved reference {match!r}")
    for classes, text in outline.outputs:
        if "cell-output-stderr" in classes.split() and text:
            problems.append(f"{name}: a cell shows its error stream: {text[:120]!r}")
        elif build := _BUILD_OUTPUT.search(text):
            problems.append(f"{name}: build or sampler output in a cell: {build.group(0)!r} in {text[:120]!r}")
        elif text in ("True", "False"):
            problems.append(f"{name}: a bare {text} result in a cell's output")
    return problems
