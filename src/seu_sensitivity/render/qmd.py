"""Parse a ``.qmd`` file: YAML front matter, executable Python cells, markdown between.

Only what the book uses is understood: ```` ```{python} ```` cells whose first
lines are ``#| key: value`` options (YAML), inline expressions
`` `{python} expr` `` in the prose, and plain fenced code blocks, which are
left alone (a ```` ```{python} ```` inside a longer plain fence is not a cell).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from . import RenderError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.S)
_CELL_OPEN = re.compile(r"^(?P<fence>`{3,})\s*\{(?P<lang>python|python3)(?P<rest>[^}]*)\}\s*$")
_PLAIN_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})")
_OPTION = re.compile(r"^#\|\s?(.*)$")
#: inline expression `{python} expr`
INLINE_EXPR = re.compile(r"`\{python\}\s+([^`]+?)`")


@dataclass
class CodeCell:
    """An executable cell: its source without option lines, its options, its first line."""

    source: str
    options: dict[str, Any]
    line: int  # 1-based line of the opening fence in the .qmd
    source_line: int = 0  # 1-based line in the .qmd of the source's first line

    def qmd_line(self, source_line: int) -> int:
        """The .qmd line of a line of the cell's source (1-based, as in tracebacks)."""
        return (self.source_line or self.line + 1) + source_line - 1

    @property
    def label(self) -> str | None:
        label = self.options.get("label")
        return str(label) if label is not None else None

    @property
    def tags(self) -> list[str]:
        tags = self.options.get("tags") or []
        return [str(t) for t in (tags if isinstance(tags, list) else [tags])]

    def describe(self) -> str:
        """How error messages name the cell: its label, else its line."""
        return f"cell '{self.label}' (line {self.line})" if self.label else f"cell at line {self.line}"


@dataclass
class Markdown:
    """Prose between cells, with the line where it starts."""

    text: str
    line: int


Block = Union[CodeCell, Markdown]


@dataclass
class QmdDocument:
    """A parsed ``.qmd`` file."""

    path: Path
    front_matter: dict[str, Any]
    blocks: list[Block] = field(default_factory=list)

    @property
    def cells(self) -> list[CodeCell]:
        return [b for b in self.blocks if isinstance(b, CodeCell)]

    @property
    def title(self) -> str | None:
        title = self.front_matter.get("title")
        return None if title is None else str(title)


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a code block opened with ``fence`` (same character, at least as long)."""
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _parse_options(lines: list[str], path: Path, line: int) -> dict[str, Any]:
    if not lines:
        return {}
    try:
        options = yaml.safe_load("\n".join(lines)) or {}
    except yaml.YAMLError as exc:
        raise RenderError(f"{path}:{line}: invalid cell options: {exc}") from exc
    if not isinstance(options, dict):
        raise RenderError(f"{path}:{line}: cell options must be 'key: value' lines")
    return options


def parse_qmd_text(text: str, path: Path | str = "<string>") -> QmdDocument:
    """Parse the text of a ``.qmd`` file.

    >>> doc = parse_qmd_text("---\\ntitle: T\\n---\\nHi\\n```{python}\\n#| label: fig-a\\nx = 1\\n```\\nBye\\n")
    >>> doc.title, [type(b).__name__ for b in doc.blocks], doc.cells[0].options, doc.cells[0].source, doc.cells[0].line
    ('T', ['Markdown', 'CodeCell', 'Markdown'], {'label': 'fig-a'}, 'x = 1', 5)
    """
    path = Path(path)
    text = text.replace("\r\n", "\n")
    front: dict[str, Any] = {}
    offset = 0
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            front = yaml.safe_load(match.group(1) or "") or {}
        except yaml.YAMLError as exc:
            raise RenderError(f"{path}: invalid YAML front matter: {exc}") from exc
        if not isinstance(front, dict):
            raise RenderError(f"{path}: front matter must be a mapping")
        offset = match.group(0).count("\n")
        text = text[match.end():]

    lines = text.split("\n")
    blocks: list[Block] = []
    prose: list[str] = []
    prose_start = offset + 1
    i = 0
    while i < len(lines):
        line = lines[i]
        cell_open = _CELL_OPEN.match(line)
        plain_open = None if cell_open else _PLAIN_OPEN.match(line)
        if cell_open:
            fence = cell_open.group("fence")
            start = offset + i + 1
            j = i + 1
            while j < len(lines) and not _closes(lines[j], fence):
                j += 1
            if j >= len(lines):
                raise RenderError(f"{path}:{start}: code cell is never closed ({fence})")
            body = lines[i + 1:j]
            option_lines = []
            while body and _OPTION.match(body[0]):
                option_lines.append(_OPTION.match(body[0]).group(1))
                body = body[1:]
            if prose:
                blocks.append(Markdown("\n".join(prose), prose_start))
            leading_blank = next((k for k, text in enumerate(body) if text.strip()), 0)
            first = start + 1 + len(option_lines) + leading_blank
            blocks.append(CodeCell("\n".join(body).strip("\n"), _parse_options(option_lines, path, start), start, first))
            prose, prose_start = [], offset + j + 2
            i = j + 1
            continue
        prose.append(line)
        if plain_open:
            fence = plain_open.group("fence")
            j = i + 1
            while j < len(lines) and not _closes(lines[j], fence):
                prose.append(lines[j])
                j += 1
            if j < len(lines):
                prose.append(lines[j])
            i = j + 1
            continue
        i += 1
    if prose and any(p.strip() for p in prose):
        blocks.append(Markdown("\n".join(prose), prose_start))
    return QmdDocument(path, front, blocks)


def parse_qmd(path: Path | str) -> QmdDocument:
    """Read and parse a ``.qmd`` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"{path}: cannot read: {exc}") from exc
    return parse_qmd_text(text, path)
