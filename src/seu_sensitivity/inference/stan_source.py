"""Split a Stan program into its blocks, so a chapter can show it block by block.

A Stan program is a sequence of up to seven top-level blocks, in a fixed
order: ``functions``, ``data``, ``transformed data``, ``parameters``,
``transformed parameters``, ``model`` and ``generated quantities``. Finding
where each block ends means matching braces, and braces may also appear
inside comments (``// {``, ``/* } */``) and string literals
(``print("}")``), which must not count. :func:`split_blocks` scans the source
once, skipping comments and strings, and returns each block with its text,
its body and its line numbers; the comments just above a block header travel
with the block (they usually explain it).

>>> source = '''
... // the data
... data { int N; // N > 0 {not a brace that counts}
...        vector[N] y; }
... parameters { real mu; }
... model { y ~ normal(mu, 1); print("}"); }
... '''
>>> blocks = split_blocks(source)
>>> list(blocks)
['data', 'parameters', 'model']
>>> blocks["parameters"].body.strip()
'real mu;'
>>> blocks["data"].comment
'// the data'
>>> blocks["model"].start_line, blocks["model"].end_line
(6, 6)
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

__all__ = [
    "BLOCK_NAMES",
    "StanBlock",
    "StanSyntaxError",
    "split_blocks",
    "read_blocks",
    "header_comment",
    "as_markdown",
    "strip_comments",
    "code_lines",
    "BlockDifference",
    "block_differences",
]

#: the blocks of a Stan program, in the only order Stan accepts
BLOCK_NAMES: tuple[str, ...] = (
    "functions",
    "data",
    "transformed data",
    "parameters",
    "transformed parameters",
    "model",
    "generated quantities",
)

# A block header at top level: the (possibly two-word) block name, then "{".
# Longer names first so "transformed data" is not read as an unknown word.
_HEADER = re.compile(
    r"(functions|transformed\s+data|transformed\s+parameters|generated\s+quantities|data|parameters|model)\s*\{"
)


class StanSyntaxError(ValueError):
    """The source is not a sequence of well-formed Stan blocks (message names the line)."""


@dataclass(frozen=True)
class StanBlock:
    """One top-level block of a Stan program.

    Attributes
    ----------
    name : str
        Canonical name (``"transformed data"``, single spaces).
    text : str
        The block as written, from its header to its closing brace.
    body : str
        What lies between the braces.
    comment : str
        Comment lines directly above the header (no blank line between), or "".
    start_line, end_line : int
        1-based lines of the header and of the closing brace.
    """

    name: str
    text: str
    body: str
    comment: str
    start_line: int
    end_line: int

    def with_comment(self) -> str:
        """The block preceded by the comments above it."""
        return f"{self.comment}\n{self.text}" if self.comment else self.text


def _line_of(source: str, index: int) -> int:
    return source.count("\n", 0, index) + 1


def _skip_comment_or_string(source: str, i: int) -> int | None:
    """If a comment or string starts at i, the index just after it; else None.

    Raises StanSyntaxError for an unterminated block comment or string.
    """
    if source.startswith("//", i) or source.startswith("#", i):
        # "#" comments are gone from current Stan but harmless to skip
        end = source.find("\n", i)
        return len(source) if end < 0 else end + 1
    if source.startswith("/*", i):
        end = source.find("*/", i + 2)
        if end < 0:
            raise StanSyntaxError(f"line {_line_of(source, i)}: block comment /* is never closed")
        return end + 2
    if source[i] == '"':
        j = i + 1
        while j < len(source):
            if source[j] == "\\":  # an escaped character, e.g. \" inside the string
                j += 2
                continue
            if source[j] == '"':
                return j + 1
            if source[j] == "\n":
                break
            j += 1
        raise StanSyntaxError(f"line {_line_of(source, i)}: string literal is never closed")
    return None


def _closing_brace(source: str, open_index: int) -> int:
    """Index of the brace that closes the one at ``open_index``."""
    depth = 0
    i = open_index
    while i < len(source):
        skipped = _skip_comment_or_string(source, i)
        if skipped is not None:
            i = skipped
            continue
        char = source[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise StanSyntaxError(f"line {_line_of(source, open_index)}: this brace is never closed")


def _comment_above(source: str, header_index: int, previous_end: int) -> str:
    """The run of comment lines immediately above the header (no blank line in between)."""
    lines = source[previous_end:header_index].split("\n")
    # the last element is the text before the header on its own line (indentation)
    kept: list[str] = []
    for line in reversed(lines[:-1]):
        stripped = line.strip()
        if stripped.startswith(("//", "/*", "*", "#")) and stripped:
            kept.append(line.rstrip())
        else:
            break
    return "\n".join(reversed(kept))


def split_blocks(source: str) -> dict[str, StanBlock]:
    """The blocks of a Stan program, by canonical name, in program order.

    Raises :class:`StanSyntaxError` for text outside any block, an unknown or
    repeated block, blocks out of Stan's order, or unbalanced braces,
    comments or strings.

    >>> blocks = split_blocks("model { /* } */ target += 0; }")
    >>> blocks["model"].body
    ' /* } */ target += 0; '
    """
    blocks: dict[str, StanBlock] = {}
    i = 0
    previous_end = 0
    last_order = -1
    while i < len(source):
        if source[i].isspace():
            i += 1
            continue
        skipped = _skip_comment_or_string(source, i)
        if skipped is not None:
            if source[i] == '"':
                raise StanSyntaxError(f"line {_line_of(source, i)}: a string outside any block")
            i = skipped
            continue
        match = _HEADER.match(source, i)
        if match is None:
            word = re.match(r"\S+", source[i:])
            found = word.group(0) if word else source[i]
            raise StanSyntaxError(
                f"line {_line_of(source, i)}: expected a block ({', '.join(BLOCK_NAMES)}), found {found!r}"
            )
        name = " ".join(match.group(1).split())
        if name in blocks:
            raise StanSyntaxError(f"line {_line_of(source, i)}: block {name!r} appears twice")
        order = BLOCK_NAMES.index(name)
        if order < last_order:
            raise StanSyntaxError(
                f"line {_line_of(source, i)}: block {name!r} comes after {BLOCK_NAMES[last_order]!r}; "
                f"Stan's order is {', '.join(BLOCK_NAMES)}"
            )
        open_index = match.end() - 1
        close_index = _closing_brace(source, open_index)
        blocks[name] = StanBlock(
            name=name,
            text=source[i : close_index + 1],
            body=source[open_index + 1 : close_index],
            comment=_comment_above(source, i, previous_end),
            start_line=_line_of(source, i),
            end_line=_line_of(source, close_index),
        )
        last_order = order
        i = previous_end = close_index + 1
    return blocks


def read_blocks(path: str | PathLike[str]) -> dict[str, StanBlock]:
    """:func:`split_blocks` of the Stan program in a file."""
    return split_blocks(Path(path).read_text())


def header_comment(source: str) -> str:
    """The comment lines at the top of a program, before its first block.

    >>> header_comment("// one\\n// two\\n\\ndata { }")
    '// one\\n// two'
    """
    first = _HEADER.search(source)
    head = source[: first.start() if first else len(source)]
    lines = [line.rstrip() for line in head.strip("\n").split("\n")]
    return "\n".join(line for line in lines if line.strip().startswith(("//", "/*", "*"))) if head.strip() else ""


def as_markdown(text: str, language: str = "stan") -> str:
    """A fenced code block of ``text`` (for ``IPython.display.Markdown`` in a chapter).

    Uses a longer fence when the text itself contains a run of backticks.

    >>> as_markdown("model { }")
    '```stan\\nmodel { }\\n```'
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.strip(chr(10))}\n{fence}"


def strip_comments(source: str) -> str:
    """``source`` without its comments; string literals (which may contain ``//``) are kept.

    A line comment is replaced by the line break that ended it, so line
    structure survives; a block comment by nothing.

    >>> strip_comments('print("a // b"); // note\\nreal x; /* c */ real y;')
    'print("a // b"); \\nreal x;  real y;'
    """
    out: list[str] = []
    i = 0
    while i < len(source):
        skipped = _skip_comment_or_string(source, i)
        if skipped is None:
            out.append(source[i])
            i += 1
            continue
        if source[i] == '"':
            out.append(source[i:skipped])
        elif source.startswith(("//", "#"), i) and source[skipped - 1 : skipped] == "\n":
            out.append("\n")
        i = skipped
    return "".join(out)


def code_lines(text: str) -> list[str]:
    """The code of Stan text as a list of lines: comments removed, runs of whitespace
    collapsed to one space, blank lines dropped. Two texts with equal code lines
    differ at most in comments, indentation and spacing.

    >>> code_lines("  vector[J]   z;   // deviations\\n\\n  z ~ std_normal();")
    ['vector[J] z;', 'z ~ std_normal();']
    """
    lines = (" ".join(line.split()) for line in strip_comments(text).split("\n"))
    return [line for line in lines if line]


@dataclass(frozen=True)
class BlockDifference:
    """One run of differing code lines between two programs, inside one block.

    ``first`` holds the lines of the first program that the second replaces
    with ``second`` (either may be empty: lines only one program has).
    """

    block: str
    first: tuple[str, ...]
    second: tuple[str, ...]


def block_differences(
    first: str | dict[str, StanBlock], second: str | dict[str, StanBlock]
) -> list[BlockDifference]:
    """Where two Stan programs differ, block by block, ignoring comments and spacing.

    ``first`` and ``second`` are program sources or :func:`split_blocks`
    results. Bodies are compared as :func:`code_lines` in order (so moved lines
    count as differences); a block only one program has differs in all its
    lines. Returns the differing runs in Stan's block order; an empty list
    means the two programs have the same code.

    >>> a = "parameters { real mu; } model { mu ~ normal(0, 1); // prior\\n}"
    >>> b = "parameters { real mu; } model {\\n  mu ~ normal(0, 2);\\n}"
    >>> block_differences(a, b)
    [BlockDifference(block='model', first=('mu ~ normal(0, 1);',), second=('mu ~ normal(0, 2);',))]
    """
    blocks_a = split_blocks(first) if isinstance(first, str) else first
    blocks_b = split_blocks(second) if isinstance(second, str) else second
    out: list[BlockDifference] = []
    for name in BLOCK_NAMES:
        lines_a = code_lines(blocks_a[name].body) if name in blocks_a else []
        lines_b = code_lines(blocks_b[name].body) if name in blocks_b else []
        matcher = difflib.SequenceMatcher(a=lines_a, b=lines_b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                out.append(BlockDifference(name, tuple(lines_a[i1:i2]), tuple(lines_b[j1:j2])))
    return out
