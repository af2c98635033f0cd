"""Markdown to HTML with pandoc 3: cross-references, callouts, citations, math.

The conversion runs in three steps:

1. pandoc reads the chapter's markdown into its JSON AST;
2. Python passes over the AST number the chapter's sections, figures, tables
   and equations (Quarto's ``chapter.number`` scheme), replace references
   ``@fig-x``/``@tbl-x``/``@eq-x``/``@sec-x`` with numbered links (to any
   chapter: labels of the whole book are collected first), and turn
   ``.callout-*`` divs into callout boxes. This must happen before citeproc,
   which would read ``@sec-x`` as an unknown citation;
3. pandoc writes HTML with ``--citeproc`` (citations from the bibliography;
   an unknown key is an error) and ``--mathml`` (math without any script).
"""

from __future__ import annotations

import html
import json
import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pypandoc

from . import RenderError

Node = dict[str, Any]

#: reference prefixes, by label kind
KINDS = {"fig": "Figure", "tbl": "Table", "eq": "Equation", "sec": "Section"}
CALLOUT_TYPES = ("note", "tip", "important", "warning", "caution")
READER = "markdown-smart+smart"
TOC_MARKER = "<!--seu:end-of-toc-->"
_EQ_LABEL = re.compile(r"^\{#(eq-[\w:.-]+)\}(.*)$", re.S)
_MISSING_CITATION = re.compile(r"citation (\S+) not found")


def is_appendix(chapter_number: str | None) -> bool:
    """Appendices are lettered (A, B, ...), chapters numbered (1, 2, ...), as in Quarto.

    >>> is_appendix("A"), is_appendix("2"), is_appendix(None)
    (True, False, False)
    """
    return bool(chapter_number) and chapter_number.isalpha()


@dataclass(frozen=True)
class Label:
    """A cross-reference target: its kind, number (``None`` when unnumbered), page and title."""

    kind: str  # fig, tbl, eq, sec, chapter
    number: str | None
    page: str  # output path of the page, relative to the site root (POSIX)
    title: str = ""

    def text(self) -> str:
        """What a reference to the label reads, e.g. ``Figure 2.3`` or ``Equation 1.4`` (as in Quarto)."""
        if self.kind == "chapter":
            if not self.number:
                return self.title
            return f"Appendix {self.number}" if is_appendix(self.number) else f"Chapter {self.number}"
        if self.kind == "sec" and self.number is None:
            return self.title
        return f"{KINDS[self.kind]}\u00a0{self.number}"


# --------------------------------------------------------------------------- pandoc

def pandoc_path() -> str:
    """The pandoc executable shipped by pypandoc-binary (or found by pypandoc)."""
    return pypandoc.get_pandoc_path()


def run_pandoc(args: list[str], text: str, where: str) -> tuple[str, str]:
    """Run pandoc on ``text``; return (stdout, stderr) or raise naming ``where``."""
    proc = subprocess.run([pandoc_path(), *args], input=text, capture_output=True, text=True, encoding="utf-8")
    if proc.returncode != 0:
        raise RenderError(f"{where}: pandoc failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout, proc.stderr


def markdown_to_ast(markdown: str, where: str) -> Node:
    """Pandoc's JSON AST of a pandoc-markdown text."""
    out, _ = run_pandoc(["-f", READER, "-t", "json"], markdown, where)
    return json.loads(out)


def ast_to_html(ast: Node, where: str, bibliography: Iterable[Path] = (), resource_dir: Path | None = None) -> str:
    """HTML fragment of the AST, citations resolved; an unknown citation key is an error."""
    args = ["-f", "json", "-t", "html5", "--mathml", "--wrap=none", "--citeproc",
            "-M", "link-citations=true", "-M", "reference-section-title=References"]
    args += [f"--bibliography={b}" for b in bibliography]
    out, err = run_pandoc(args, json.dumps(ast), where)
    missing = _MISSING_CITATION.findall(err)
    if missing:
        raise RenderError(f"{where}: unknown citation key(s): {', '.join(sorted(set(missing)))} "
                          "(not in the bibliography, and not a cross-reference label)")
    return out


# --------------------------------------------------------------------------- AST helpers

def stringify(node: Any) -> str:
    """Plain text of an AST fragment."""
    if isinstance(node, list):
        return "".join(stringify(n) for n in node)
    if not isinstance(node, dict):
        return ""
    t, c = node.get("t"), node.get("c")
    if t == "Str":
        return c
    if t in ("Space", "SoftBreak", "LineBreak"):
        return " "
    if t in ("Math", "Code"):
        return c[1]
    if t == "Link" or t == "Image":
        return stringify(c[1])
    if t == "Cite":
        return stringify(c[1])
    if t in ("Span", "Div"):
        return stringify(c[1])
    return stringify(c) if isinstance(c, list) else ""


def walk(node: Any, visit: Callable[[Node], None], visit_list: Callable[[list], None] | None = None) -> None:
    """Pre-order walk in document order: ``visit`` every element, ``visit_list`` every list."""
    if isinstance(node, list):
        if visit_list is not None:
            visit_list(node)
        for item in node:
            walk(item, visit, visit_list)
    elif isinstance(node, dict):
        if "t" in node:
            visit(node)
            if "c" in node:
                walk(node["c"], visit, visit_list)
        else:
            for key in ("blocks", "c"):
                if key in node:
                    walk(node[key], visit, visit_list)


def _str_inlines(text: str) -> list[Node]:
    inlines: list[Node] = []
    for i, word in enumerate(text.split(" ")):
        if i:
            inlines.append({"t": "Space"})
        if word:
            inlines.append({"t": "Str", "c": word})
    return inlines


def _prefix_caption(blocks: list[Node], prefix: str) -> None:
    """Put ``prefix`` (e.g. ``Figure 1.2:``) at the start of a caption."""
    inlines = [{"t": "Span", "c": [["", ["float-number"], []], _str_inlines(prefix)]}, {"t": "Space"}]
    for block in blocks:
        if block["t"] in ("Plain", "Para"):
            block["c"][:0] = inlines
            return
    blocks.insert(0, {"t": "Plain", "c": inlines[:-1]})


def _classes(node: Node) -> list[str]:
    return node["c"][0][1]


def _ident(node: Node) -> str:
    return node["c"][0][0]


# --------------------------------------------------------------------------- numbering

def number_chapter(ast: Node, chapter_number: str | None, page: str) -> dict[str, Label]:
    """Number sections, figures, tables and equations of one chapter, in place.

    Headings get their number (``2.1``) in a ``header-section-number`` span,
    captions their prefix (``Figure 2.1:``), labelled display equations their
    number. Returns the chapter's labels. In an unnumbered chapter, floats are
    numbered 1, 2, ... and sections are referenced by title.
    """
    labels: dict[str, Label] = {}
    counters = {"fig": 0, "tbl": 0, "eq": 0}
    sections: list[int] = []

    def next_number(kind: str) -> str:
        counters[kind] += 1
        return f"{chapter_number}.{counters[kind]}" if chapter_number else str(counters[kind])

    def add(label: str, info: Label) -> None:
        if label in labels:
            raise RenderError(f"{page}: duplicate label {label!r}")
        labels[label] = info

    def visit_list(items: list) -> None:
        # display equations followed by {#eq-x}
        i = 0
        while i < len(items):
            node = items[i]
            if isinstance(node, dict) and node.get("t") == "Math" and node["c"][0]["t"] == "DisplayMath":
                j = i + 1
                while j < len(items) and items[j].get("t") in ("Space", "SoftBreak"):
                    j += 1
                if j < len(items) and items[j].get("t") == "Str":
                    match = _EQ_LABEL.match(items[j]["c"])
                    if match:
                        label, rest = match.groups()
                        number = next_number("eq")
                        add(label, Label("eq", number, page))
                        math = {"t": "Math", "c": [{"t": "DisplayMath"}, f"{node['c'][1].strip()} \\qquad({number})"]}
                        span = {"t": "Span", "c": [[label, ["quarto-equation"], []], [math]]}
                        items[i:j + 1] = [span] + ([{"t": "Str", "c": rest}] if rest else [])
            i += 1

    def visit(node: Node) -> None:
        t = node["t"]
        if t == "Header":
            level, (ident, classes, _), inlines = node["c"]
            if "chapter-title" in classes:
                if is_appendix(chapter_number):  # Quarto's heading: "Appendix A — Title"
                    inlines[:0] = [{"t": "Span", "c": [["", ["chapter-number"], []],
                                                       [{"t": "Str", "c": "Appendix"}, {"t": "Space"},
                                                        {"t": "Str", "c": chapter_number}]]},
                                   {"t": "Space"}, {"t": "Str", "c": "\u2014"}, {"t": "Space"}]
                elif chapter_number:
                    inlines[:0] = [{"t": "Span", "c": [["", ["chapter-number"], []], [{"t": "Str", "c": chapter_number}]]},
                                   {"t": "Space"}]
                if ident.startswith("sec-"):
                    add(ident, Label("chapter", chapter_number, page, stringify(inlines)))
                return
            if "unnumbered" in classes or "-" in classes:
                if ident.startswith("sec-"):
                    add(ident, Label("sec", None, page, stringify(inlines)))
                return
            depth = max(level, 2) - 1
            sections[:] = (sections + [0] * depth)[:depth]
            sections[depth - 1] += 1
            number = None
            title = stringify(inlines)
            if chapter_number:
                number = ".".join([chapter_number, *map(str, sections)])
                inlines[:0] = [{"t": "Span", "c": [["", ["header-section-number"], []], [{"t": "Str", "c": number}]]},
                               {"t": "Space"}]
            if ident.startswith("sec-"):
                add(ident, Label("sec", number, page, title))
        elif t == "Figure":
            ident = _ident(node)
            if ident.startswith("fig-"):
                number = next_number("fig")
                add(ident, Label("fig", number, page))
                _prefix_caption(node["c"][1][1], f"Figure\u00a0{number}:")
        elif t == "Table":
            ident = _ident(node)
            if ident.startswith("tbl-"):
                number = next_number("tbl")
                add(ident, Label("tbl", number, page))
                _prefix_caption(node["c"][1][1], f"Table\u00a0{number}:")
        elif t == "Div":
            ident, classes = _ident(node), _classes(node)
            kind = ident.split("-", 1)[0] if ident.startswith(("fig-", "tbl-")) else None
            if kind is None and "quarto-float" not in classes:
                return
            blocks = node["c"][1]
            caption = next((b for b in blocks if b["t"] == "Div" and "float-caption" in _classes(b)), None)
            if caption is None and kind and blocks and blocks[-1]["t"] == "Para" and len(blocks) > 1:
                caption = {"t": "Div", "c": [["", ["float-caption"], []], [blocks.pop()]]}  # Quarto's figure div
                blocks.append(caption)
            if kind:
                number = next_number(kind)
                add(ident, Label(kind, number, page))
                if caption is not None:
                    _prefix_caption(caption["c"][1], f"{KINDS[kind]}\u00a0{number}:")
            if kind == "fig" or "quarto-figure" in classes:
                content = [b for b in blocks if b is not caption]
                cap_blocks = caption["c"][1] if caption is not None else []
                node["t"] = "Figure"
                node["c"] = [[ident, classes, []], [None, cap_blocks], content]

    walk(ast["blocks"], visit, visit_list)
    return labels


# --------------------------------------------------------------------------- references

def is_crossref(key: str) -> bool:
    """Whether a citation key is a cross-reference label (``fig-``, ``tbl-``, ``eq-``, ``sec-``)."""
    return key.split("-", 1)[0].lower() in KINDS and "-" in key


def relative_href(from_page: str, to_page: str, anchor: str | None) -> str:
    """Link from one page to an anchor of another (or the same) page, relative (works from file://).

    Without an anchor the link is to the page itself (as Quarto links a reference to a chapter).
    """
    if from_page == to_page and anchor:
        return f"#{anchor}"
    rel = posixpath.relpath(to_page, posixpath.dirname(from_page) or ".")
    return f"{rel}#{anchor}" if anchor else rel


def resolve_references(ast: Node, labels: dict[str, Label], page: str, where: str,
                       numbered: bool = True) -> None:
    """Replace cross-reference citations by numbered links; unknown labels are an error.

    On an unnumbered page (``numbered=False``, e.g. the preface) a section is
    referred to by its title, as Quarto does there.
    """
    unknown: list[str] = []

    def visit(node: Node) -> None:
        if node["t"] != "Cite":
            return
        citations = node["c"][0]
        if not any(is_crossref(c["citationId"]) for c in citations):
            return
        out: list[Node] = []
        rest = [c for c in citations if not is_crossref(c["citationId"])]
        for cit in citations:
            key = cit["citationId"]
            if not is_crossref(key):
                continue
            if key not in labels:  # @Fig-x at the start of a sentence refers to fig-x
                key = key[0].lower() + key[1:]
            label = labels.get(key)
            if out:
                out += [{"t": "Str", "c": ","}, {"t": "Space"}]
            out += cit["citationPrefix"] + ([{"t": "Space"}] if cit["citationPrefix"] else [])
            if label is None:
                unknown.append(cit["citationId"])
                out.append({"t": "Strong", "c": [{"t": "Str", "c": f"?@{cit['citationId']}"}]})
                continue
            text = label.title if (label.kind == "sec" and not numbered and label.title) else label.text()
            if cit["citationMode"]["t"] == "SuppressAuthor":
                text = text.split("\u00a0", 1)[-1]
            href = relative_href(page, label.page, None if label.kind == "chapter" else key)
            out.append({"t": "Link", "c": [["", ["quarto-xref"], []], _str_inlines(text), [href, ""]]})
            out += cit["citationSuffix"]
        if rest:
            out += [{"t": "Space"}, {"t": "Cite", "c": [rest, [{"t": "Str", "c": "@" + rest[0]["citationId"]}]]}]
        node["t"] = "Span"
        node["c"] = [["", [], []], out]

    walk(ast["blocks"], visit)
    if unknown:
        raise RenderError(f"{where}: unresolved cross-reference(s): {', '.join('@' + k for k in unknown)}")


# --------------------------------------------------------------------------- callouts

def _raw(text: str, inline: bool = False) -> Node:
    return {"t": "RawInline" if inline else "RawBlock", "c": ["html", text]}


def transform_callouts(ast: Node) -> None:
    """``::: {.callout-note}`` (tip, important, warning, caution) to callout boxes.

    The title comes from a first heading inside the div or a ``title``
    attribute (default: the type's name); ``collapse="true"`` gives a closed
    ``<details>`` box (``"false"``: an open one); ``appearance`` is kept as a class.
    """

    def visit(node: Node) -> None:
        if node["t"] != "Div":
            return
        (ident, classes, attrs), blocks = node["c"]
        kind = next((c.split("-", 1)[1] for c in classes if c.startswith("callout-") and c.split("-", 1)[1] in CALLOUT_TYPES), None)
        if kind is None:
            return
        attr = dict(attrs)
        if blocks and blocks[0]["t"] == "Header":
            title = blocks.pop(0)["c"][2]
        elif "title" in attr:
            title = _str_inlines(attr["title"])
        else:
            title = [{"t": "Str", "c": kind.capitalize()}]
        appearance = attr.get("appearance", "default")
        new_classes = ["callout", f"callout-{kind}", f"callout-appearance-{appearance}"]
        body = {"t": "Div", "c": [["", ["callout-body"], []], blocks]}
        collapse = str(attr.get("collapse", "")).lower()
        if collapse in ("true", "false"):
            is_open = " open" if collapse == "false" else ""
            content = [_raw(f'<details class="callout-details"{is_open}>'),
                       {"t": "Plain", "c": [_raw('<summary class="callout-header">', True), *title, _raw("</summary>", True)]},
                       body, _raw("</details>")]
        else:
            content = [{"t": "Div", "c": [["", ["callout-header"], []], [{"t": "Plain", "c": title}]]}, body]
        node["c"] = [[ident, new_classes, []], content]

    walk(ast["blocks"], visit)


# --------------------------------------------------------------------------- table of contents

def table_of_contents(ast: Node, depth: int = 3) -> Node:
    """A ``nav`` div listing the chapter's numbered headings (levels 2..depth) as links."""
    items: list[tuple[int, Node]] = []

    def visit(node: Node) -> None:
        if node["t"] == "Header":
            level, (ident, classes, _), inlines = node["c"]
            if 2 <= level <= depth and ident and "chapter-title" not in classes:
                link = {"t": "Link", "c": [["", [], []], json.loads(json.dumps(inlines)), [f"#{ident}", ""]]}
                items.append((level, {"t": "Plain", "c": [link]}))

    walk(ast["blocks"], visit)

    def build(start: int, level: int) -> tuple[Node, int]:
        entries: list[list[Node]] = []
        i = start
        while i < len(items) and items[i][0] >= level:
            if items[i][0] == level or not entries:
                entries.append([items[i][1]])
                i += 1
            else:
                sub, i = build(i, items[i][0])
                entries[-1].append(sub)
        return {"t": "BulletList", "c": entries}, i

    blocks: list[Node] = [{"t": "Para", "c": [{"t": "Str", "c": "On"}, {"t": "Space"}, {"t": "Str", "c": "this"},
                                              {"t": "Space"}, {"t": "Str", "c": "page"}]}] if items else []
    if items:
        blocks.append(build(0, items[0][0])[0])
    return {"t": "Div", "c": [["TOC", ["toc"], []], blocks]}


def image_sources(ast: Node) -> list[str]:
    """Relative paths of the images the chapter's markdown shows (to copy into the site)."""
    sources: list[str] = []

    def visit(node: Node) -> None:
        if node["t"] == "Image":
            src = node["c"][2][0]
            if src and not re.match(r"^[a-z]+:|^/|^data:", src):
                sources.append(src)

    walk(ast["blocks"], visit)
    return sources


@dataclass
class ConvertedPage:
    """HTML of one chapter, split into its table of contents and its body."""

    toc_html: str
    body_html: str
    title_text: str


def convert_chapter(markdown: str, *, title: str, chapter_number: str | None, page: str,
                    labels: dict[str, Label], bibliography: Iterable[Path], where: str,
                    title_id: str = "") -> tuple[ConvertedPage, dict[str, Label], list[str]]:
    """Convert a chapter's executed markdown to HTML.

    ``labels`` holds the book's labels (this chapter's are replaced by those
    found now). Returns the page, this chapter's labels and the images it
    references.
    """
    attrs = f"#{title_id} .chapter-title" if title_id else ".chapter-title"
    ast = markdown_to_ast(f"# {title} {{{attrs}}}\n\n{markdown}", where)
    transform_callouts(ast)  # first: a callout's title heading is not a section
    own = number_chapter(ast, chapter_number, page)
    book_labels = {k: v for k, v in labels.items() if v.page != page}
    book_labels.update(own)
    resolve_references(ast, book_labels, page, where, numbered=chapter_number is not None)
    toc = table_of_contents(ast)
    ast["blocks"][:0] = [toc, _raw(TOC_MARKER)]
    out = ast_to_html(ast, where, bibliography)
    toc_html, _, body_html = out.partition(TOC_MARKER)
    return ConvertedPage(toc_html, body_html, title), own, image_sources(ast)


def scan_labels(markdown: str, *, title: str, chapter_number: str | None, page: str, where: str,
                title_id: str = "") -> dict[str, Label]:
    """Labels of a chapter that is not rendered now, from its unexecuted markdown."""
    attrs = f"#{title_id} .chapter-title" if title_id else ".chapter-title"
    ast = markdown_to_ast(f"# {title} {{{attrs}}}\n\n{markdown}", where)
    transform_callouts(ast)
    return number_chapter(ast, chapter_number, page)


def escape(text: str) -> str:
    """HTML-escape plain text for the page template."""
    return html.escape(text, quote=True)


__all__ = ["Label", "convert_chapter", "scan_labels", "number_chapter", "resolve_references",
           "transform_callouts", "table_of_contents", "markdown_to_ast", "ast_to_html", "escape", "is_appendix"]
