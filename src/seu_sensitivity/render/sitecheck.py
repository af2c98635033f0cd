"""Check a built page: what a reader would see as broken.

Unresolved references (``?@x`` or a bare ``@fig-x`` in the text), raw
``$$`` math, an inline expression left as code (Quarto prints
`` `{python} x` `` itself when the value of ``x`` is empty), figures without their image, images or links pointing at
missing files or anchors, citations without their bibliography entry.
Used by the tests, and handy after any build::

    python -m seu_sensitivity.render.sitecheck _book
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_SKIP_TEXT = {"pre", "code", "script", "style"}
_BARE_REF = re.compile(r"(?<![\w.])@(fig|tbl|eq|sec)-[\w-]+")


@dataclass
class _Page(HTMLParser):
    ids: set[str] = field(default_factory=set)
    text: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    inline_code: list[str] = field(default_factory=list)
    figure_images: dict[str, list[str]] = field(default_factory=dict)
    stack: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        ident = attr.get("id", "")
        if ident:
            self.ids.add(ident)
            if ident.startswith("fig-") and "-caption-" not in ident:  # Quarto ids its captions fig-x-caption-<uuid>
                self.figure_images.setdefault(ident, [])
        if tag == "img" and attr.get("src"):
            self.images.append(attr["src"])
            for _, open_id in self.stack:
                if open_id in self.figure_images:
                    self.figure_images[open_id].append(attr["src"])
        if tag == "a" and attr.get("href"):
            self.links.append(attr["href"])
        if "citation" in attr.get("class", "").split() and attr.get("data-cites"):
            self.citations += attr["data-cites"].split()
        if tag not in _VOID:
            self.stack.append((tag, ident))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        tags = [tag for tag, _ in self.stack]
        if not any(tag in _SKIP_TEXT for tag in tags):
            self.text.append(data)
        elif tags and tags[-1] == "code" and "pre" not in tags:  # inline code in the prose, not a listing
            self.inline_code.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def check_page(path: Path | str, _cache: dict[Path, _Page] | None = None) -> list[str]:
    """Problems found in one built HTML page (an empty list when it is fine)."""
    path = Path(path).resolve()
    cache = {} if _cache is None else _cache
    page = cache.setdefault(path, _parse(path))
    name = path.name
    problems: list[str] = []
    text = " ".join(page.text)
    for match in sorted(set(re.findall(r"\?@[\w-]+", text))):
        problems.append(f"{name}: unresolved reference {match}")
    for match in sorted(set(m.group(0) for m in _BARE_REF.finditer(text))):
        problems.append(f"{name}: bare reference {match} in the text")
    if "$$" in text:
        problems.append(f"{name}: raw $$ math in the text")
    for code in sorted(set(c.strip() for c in page.inline_code if c.lstrip().startswith("{python}"))):
        problems.append(f"{name}: inline expression left unevaluated on the page: {code}")
    for fig, images in sorted(page.figure_images.items()):
        if not images:
            problems.append(f"{name}: figure {fig} has no image")
    for src in page.images:
        if not re.match(r"^[a-z]+:", src) and not (path.parent / unquote(src)).is_file():
            problems.append(f"{name}: image {src} not found")
    for key in sorted(set(page.citations)):
        if f"ref-{key}" not in page.ids:
            problems.append(f"{name}: citation {key} has no bibliography entry")
    for href in page.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if target.is_dir():  # a link to a folder serves its index page (Quarto links the book's home so)
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"{name}: link {href} points at a missing file")
        elif parts.fragment and target.suffix == ".html":
            target_page = cache.setdefault(target, _parse(target))
            if parts.fragment not in target_page.ids:
                problems.append(f"{name}: link {href} points at a missing anchor")
    return problems


def check_site(out_dir: Path | str) -> list[str]:
    """Problems of every page under ``out_dir``."""
    cache: dict[Path, _Page] = {}
    problems: list[str] = []
    for page in sorted(Path(out_dir).rglob("*.html")):
        problems += check_page(page, cache)
    return problems


if __name__ == "__main__":  # pragma: no cover
    found = check_site(sys.argv[1] if len(sys.argv) > 1 else "_book")
    print("\n".join(found) or "no problems found")
    raise SystemExit(1 if found else 0)
