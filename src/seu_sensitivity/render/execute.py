"""Execute a chapter's Python cells in a Jupyter kernel and turn the results into markdown.

The kernel runs through nbclient with the chapter's folder as working
directory (as Quarto does). Cells run one by one, so that the engine can run
small hidden helpers between them: figure sizes for ``fig-width``/``fig-height``,
the quick-mode parameter cell (injected right after the cell tagged
``parameters``, the papermill convention), and inline expressions
`` `{python} expr` `` of the prose, evaluated after the cells that precede them.

The result is one markdown document: the chapter's prose with cell code and
outputs in place (figures written as PNG files next to the page), ready for
:mod:`.convert`.
"""

from __future__ import annotations

import base64
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from . import RenderError
from .qmd import INLINE_EXPR, CodeCell, Markdown, QmdDocument

#: default figure size in inches (Quarto's HTML defaults)
DEFAULT_FIG_SIZE = (7.0, 5.0)
DEFAULT_FIG_DPI = 96
#: cells slower than this get their own progress line
SLOW_CELL_SECONDS = 5.0

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_IMAGE_TYPES = {"image/png": "png", "image/svg+xml": "svg", "image/jpeg": "jpg"}


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (tracebacks from IPython carry them)."""
    return _ANSI.sub("", text)


def _fence(content: str, char: str = "`") -> str:
    """A code fence longer than any run of ``char`` inside ``content``."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", content)), default=0)
    return char * max(3, longest + 1)


def fenced(content: str, info: str) -> str:
    """A fenced block (code or raw) that ``content`` cannot close early."""
    fence = _fence(content)
    return f"{fence}{info}\n{content.rstrip(chr(10))}\n{fence}"


def raw_html(html: str) -> str:
    """A raw HTML block that pandoc passes through untouched."""
    return fenced(html, "{=html}")


def clean_stream(text: str) -> str:
    """Keep what a terminal would show of progress bars: the last ``\\r`` segment of each line."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _option(options: dict[str, Any], defaults: dict[str, Any], key: str, default: Any) -> Any:
    if key in options:
        return options[key]
    return defaults.get(key, default)


@dataclass
class FigureStore:
    """Where a page's figures go: ``<page_dir>/<stem>_files/figure-html/`` (Quarto's layout)."""

    page_dir: Path
    stem: str
    written: list[Path] = field(default_factory=list)

    @property
    def relative_dir(self) -> str:
        return f"{self.stem}_files/figure-html"

    def save(self, name: str, mime: str, data: str) -> str:
        """Write one image output; return its path relative to the page."""
        ext = _IMAGE_TYPES[mime]
        folder = self.page_dir / self.relative_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.{ext}"
        if ext == "svg":
            target.write_text(data if isinstance(data, str) else "".join(data), encoding="utf-8")
        else:
            target.write_bytes(base64.b64decode(data))
        self.written.append(target)
        return f"{self.relative_dir}/{target.name}"


def cell_markdown(cell: CodeCell, outputs: list[Any], figures: FigureStore, cell_number: int,
                  defaults: dict[str, Any], where: str) -> str:
    """Markdown for one executed cell: its code (unless hidden) and its outputs.

    Honours ``echo``, ``include``, ``output`` (``false``/``asis``), ``warning``,
    ``code-fold``, ``label`` with ``fig-cap``/``tbl-cap`` (floats that
    :mod:`.convert` numbers).
    """
    opts = cell.options
    if not _option(opts, defaults, "include", True):
        return ""
    label = cell.label or ""
    parts: list[str] = []
    if _option(opts, defaults, "echo", True):
        code = fenced(cell.source, " {.python .cell-code}")
        if _option(opts, defaults, "code-fold", False) in (True, "true", "show"):
            is_open = " open" if _option(opts, defaults, "code-fold", False) == "show" else ""
            summary = _option(opts, defaults, "code-summary", "Code")
            code = "\n\n".join([raw_html(f'<details class="code-fold"{is_open}><summary>{summary}</summary>'),
                                code, raw_html("</details>")])
        parts.append(code)

    shown: list[str] = []
    images: list[str] = []
    output_mode = _option(opts, defaults, "output", True)
    if output_mode is not False:
        for out in outputs:
            kind = out.get("output_type")
            if kind == "stream":
                text = clean_stream(out.get("text", ""))
                if out.get("name") == "stderr":
                    if _option(opts, defaults, "warning", True) is False or not text.strip():
                        continue
                    shown.append(fenced(text, " {.cell-output .cell-output-stderr}"))
                elif output_mode == "asis":
                    shown.append(text)
                elif text.strip():
                    shown.append(fenced(text, " {.cell-output .cell-output-stdout}"))
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                image_mime = next((m for m in _IMAGE_TYPES if m in data), None)
                if image_mime:
                    name = f"{label or f'cell-{cell_number}'}-output-{len(images) + 1}"
                    images.append(f"![]({figures.save(name, image_mime, data[image_mime])})")
                elif "text/markdown" in data:
                    shown.append(data["text/markdown"])
                elif "text/html" in data:
                    shown.append(raw_html(data["text/html"]))
                elif "text/latex" in data:
                    shown.append(data["text/latex"])
                elif "text/plain" in data:
                    if output_mode == "asis":
                        shown.append(data["text/plain"])
                    else:
                        shown.append(fenced(data["text/plain"], " {.cell-output .cell-output-display}"))

    if label.startswith("fig-") and not images and output_mode is not False:
        raise RenderError(f"{where}: {cell.describe()}: label {label!r} but the cell drew no figure")
    fig_cap = opts.get("fig-cap")
    tbl_cap = opts.get("tbl-cap")
    body = "\n\n".join(shown)
    if label.startswith("fig-") or (fig_cap and images):
        # the figure holds the images; other outputs (printed text) come before it
        float_id = f"#{label} " if label.startswith("fig-") else ""
        caption = f"\n\n::: {{.float-caption}}\n{fig_cap}\n:::" if fig_cap else ""
        figure = f":::: {{{float_id}.quarto-float .quarto-figure}}\n" + "\n\n".join(images) + f"{caption}\n::::"
        body = "\n\n".join([*shown, figure])
    elif images:
        body = "\n\n".join([*shown, *images])
    elif label.startswith("tbl-") or tbl_cap:
        float_id = f"#{label} " if label.startswith("tbl-") else ""
        caption = f"::: {{.float-caption}}\n{tbl_cap}\n:::\n\n" if tbl_cap else ""
        body = f":::: {{{float_id}.quarto-float .quarto-table}}\n{caption}{body}\n::::"
    if body.strip():
        parts.append(body)
    if not parts:
        return ""
    ident = f"#cell-{label} " if label and not label.startswith(("fig-", "tbl-")) else ""
    return f"::::: {{{ident}.cell}}\n" + "\n\n".join(parts) + "\n:::::"


class _Client(NotebookClient):
    """NotebookClient that echoes the kernel's stderr (progress bars of long fits) live."""

    progress: TextIO | None = None

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[override]
        content = msg.get("content", {})
        if self.progress is not None and msg.get("msg_type") == "stream" and content.get("name") == "stderr":
            self.progress.write(content.get("text", ""))
            self.progress.flush()
        return super().output(outs, msg, display_id, cell_index)


#: the characters Quarto backslash-escapes in an inline string value
#: (its regex class ``[\\`*_{}\[\]()>#+-.!]``, where ``+-.`` is a range and so takes ``,`` too)
_QUARTO_ESCAPED = re.compile(r"([\\`*_{}\[\]()>#+,\-.!])")


def escaped_inline_value(text_plain: str) -> str:
    """What Quarto inserts for an inline expression whose only output is ``text/plain``.

    A quoted value (the repr of a string) loses its quotes and has its
    backslashes doubled and markdown punctuation escaped, so it reads as
    literal text; anything else (numbers) goes in unchanged. Inside ``$…$``
    the escapes stay and the math breaks: values meant as markdown or math
    must be ``text/markdown`` (see :func:`seu_sensitivity.book.inline.md`).

    >>> escaped_inline_value("'-0.5'"), escaped_inline_value("-0.5"), escaped_inline_value("'@sec-a'")
    ('\\\\-0\\\\.5', '-0.5', '@sec\\\\-a')
    """
    if len(text_plain) >= 2 and text_plain[0] == text_plain[-1] and text_plain[0] in "'\"":
        inner = text_plain[1:-1].replace("\\", "\\\\")
        return _QUARTO_ESCAPED.sub(r"\\\1", inner)
    return text_plain


def _inline_text(outputs: list[Any]) -> str:
    """The text Quarto inserts for an inline expression: markdown as is, plain text escaped."""
    for out in outputs:
        if out.get("output_type") == "execute_result":
            data = out.get("data", {})
            if "text/markdown" in data:
                return str(data["text/markdown"])
            return escaped_inline_value(str(data.get("text/plain", "")))
    return ""


@dataclass
class ExecutionResult:
    """A chapter executed: markdown with outputs, figure files written, wall time."""

    markdown: str
    figures: list[Path]
    seconds: float


def execute_document(doc: QmdDocument, page_dir: Path, *, quick: bool = False, display_name: str | None = None,
                     kernel_name: str = "python3", timeout: int | None = None,
                     progress: TextIO | None = None, defaults: dict[str, Any] | None = None) -> ExecutionResult:
    """Execute ``doc`` in a fresh kernel (cwd = the document's folder) and return its markdown.

    ``page_dir`` is the output folder of the page (figures go under it).
    A failing cell or inline expression raises :class:`RenderError` naming the
    file, the cell's label or line, and the exception.
    """
    where = display_name or str(doc.path)
    started = time.perf_counter()
    defaults = dict(defaults or {})
    defaults.update(doc.front_matter.get("execute") or {})
    fig_size = (float(doc.front_matter.get("fig-width", DEFAULT_FIG_SIZE[0])),
                float(doc.front_matter.get("fig-height", DEFAULT_FIG_SIZE[1])))
    figures = FigureStore(page_dir, doc.path.stem)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name, "language": "python"}
    client = _Client(nb, kernel_name=kernel_name, timeout=timeout, allow_errors=False,
                     resources={"metadata": {"path": str(doc.path.parent.resolve())}})
    client.progress = progress

    def run_hidden(source: str, what: str, store_history: bool = False) -> list[Any]:
        cell = nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)  # nbclient stores the cell at its index; the slot is freed after
        try:
            client.execute_cell(cell, len(nb.cells) - 1, store_history=store_history)
        except CellExecutionError as exc:
            raise RenderError(f"{where}: {what} failed: {exc.ename}: {exc.evalue}") from None
        finally:
            nb.cells.pop()
        return cell.outputs

    def set_fig_size(size: tuple[float, float]) -> None:
        run_hidden(f"import matplotlib as _seu_mpl\n_seu_mpl.rcParams['figure.figsize'] = {size!r}\n"
                   f"_seu_mpl.rcParams['figure.dpi'] = {DEFAULT_FIG_DPI}\ndel _seu_mpl", "figure setup")

    chunks: list[str] = []
    has_parameters = any("parameters" in c.tags for c in doc.cells)
    kernel_log = tempfile.TemporaryFile(mode="w+")  # the kernel process's own stderr (not the cells')
    try:
        with kernel_log, client.setup_kernel(stderr=kernel_log):
            run_hidden("try:\n    import matplotlib as _seu_mpl\n"
                       f"    _seu_mpl.rcParams['figure.figsize'] = {fig_size!r}\n"
                       f"    _seu_mpl.rcParams['figure.dpi'] = {DEFAULT_FIG_DPI}\n"
                       "    del _seu_mpl\nexcept ImportError:\n    pass", "kernel setup")
            if quick and not has_parameters:
                run_hidden("quick = True", "injected parameters")
            for block in doc.blocks:
                if isinstance(block, Markdown):
                    chunks.append(_substitute_inline(block, run_hidden, where))
                    continue
                cell = block
                if cell.options.get("eval") is False:
                    chunks.append(cell_markdown(cell, [], figures, len(nb.cells) + 1, defaults, where)
                                  if cell.options.get("echo", True) else "")
                    continue
                custom_size = "fig-width" in cell.options or "fig-height" in cell.options
                if custom_size:
                    set_fig_size((float(cell.options.get("fig-width", fig_size[0])),
                                  float(cell.options.get("fig-height", fig_size[1]))))
                nb_cell = nbformat.v4.new_code_cell(cell.source)
                nb_cell.metadata["tags"] = cell.tags + (["raises-exception"] if cell.options.get("error") else [])
                nb.cells.append(nb_cell)
                cell_started = time.perf_counter()
                try:
                    client.execute_cell(nb_cell, len(nb.cells) - 1)
                except CellExecutionError as exc:
                    trace = strip_ansi(str(exc)).strip()
                    lines = re.findall(r"^Cell In\[\d+\], line (\d+)", trace, re.M)
                    at = f" at line {cell.qmd_line(int(lines[-1]))}" if lines else ""
                    raise RenderError(f"{where}: {cell.describe()} failed{at}: {exc.ename}: {exc.evalue}\n{trace}") from None
                elapsed = time.perf_counter() - cell_started
                if progress is not None and elapsed > SLOW_CELL_SECONDS:
                    progress.write(f"    {cell.describe()}: {elapsed:.1f} s\n")
                    progress.flush()
                if custom_size:
                    set_fig_size(fig_size)
                if quick and "parameters" in cell.tags:
                    run_hidden("quick = True", "injected parameters")
                chunks.append(cell_markdown(cell, nb_cell.outputs, figures, len(nb.cells), defaults, where))
    except DeadKernelError as exc:
        raise RenderError(f"{where}: the kernel died: {exc}") from None
    except NoSuchKernel:
        raise RenderError(f"{where}: no Jupyter kernel {kernel_name!r}; install one with "
                          "`python -m ipykernel install --sys-prefix --name python3`") from None
    return ExecutionResult("\n\n".join(c for c in chunks if c), figures.written, time.perf_counter() - started)


def _substitute_inline(block: Markdown, run_hidden, where: str) -> str:
    """Replace each `` `{python} expr` `` in ``block`` by the expression's value, as text.

    An empty value is an error: Quarto prints the expression itself in its
    place, so a sentence that is empty in one mode must be written another way.
    """

    def replace(match: re.Match[str]) -> str:
        line = block.line + block.text.count("\n", 0, match.start())
        what = f"inline expression `{match.group(1)}` (line {line})"
        # store_history=True: once a cell has shown a matplotlib figure, IPython
        # sends no execute_result for executions without history, and the
        # value would silently vanish from the page
        value = _inline_text(run_hidden(match.group(1), what, store_history=True))
        if not value.strip():
            raise RenderError(f"{where}: {what} has an empty value; Quarto would print the expression itself "
                              "there, so give it a non-empty value (or fold it into a neighbouring expression)")
        return value

    return INLINE_EXPR.sub(replace, block.text)


def markdown_without_execution(doc: QmdDocument) -> str:
    """The chapter's markdown with each labelled cell replaced by an empty float.

    Enough to collect the chapter's labels and numbers without running it
    (for chapters not rendered in this run).
    """
    chunks: list[str] = []
    for block in doc.blocks:
        if isinstance(block, Markdown):
            chunks.append(INLINE_EXPR.sub("…", block.text))
        elif block.label and block.label.startswith(("fig-", "tbl-")):
            kind = "quarto-figure" if block.label.startswith("fig-") else "quarto-table"
            chunks.append(f":::: {{#{block.label} .quarto-float .{kind}}}\n::: {{.float-caption}}\n"
                          f"{block.options.get('fig-cap') or block.options.get('tbl-cap') or ''}\n:::\n::::")
    return "\n\n".join(chunks)

