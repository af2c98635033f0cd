"""Units of the built-in engine that need no kernel: .qmd parsing, _quarto.yml, cell markdown, site checks."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import seu_sensitivity.render.config as config_module
import seu_sensitivity.render.qmd as qmd_module
import seu_sensitivity.render.quarto as quarto_module
from seu_sensitivity.render import RenderError
from seu_sensitivity.render.config import load_config
from seu_sensitivity.render.execute import FigureStore, cell_markdown, clean_stream, fenced
from seu_sensitivity.render.qmd import CodeCell, Markdown, parse_qmd_text
from seu_sensitivity.render.sitecheck import check_page


@pytest.mark.parametrize("module", [config_module, qmd_module, quarto_module])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_qmd_cells_options_lines_and_plain_fences():
    text = ("---\ntitle: \"T\"\nexecute:\n  echo: false\n---\n\nIntro `{python} x`.\n\n"
            "````\n```{python}\nnot a cell\n```\n````\n\n"
            "```{python}\n#| label: fig-a\n#| fig-cap: \"A: caption\"\n#| tags: [parameters]\nx = 1\n```\n\n"
            "```python\nshown = 'code'\n```\n")
    doc = parse_qmd_text(text, "c.qmd")
    assert doc.front_matter["execute"] == {"echo": False}
    cells = doc.cells
    assert len(cells) == 1
    assert cells[0].options == {"label": "fig-a", "fig-cap": "A: caption", "tags": ["parameters"]}
    assert cells[0].source == "x = 1" and cells[0].line == 15 and cells[0].tags == ["parameters"]
    assert cells[0].source_line == 19 and cells[0].qmd_line(1) == 19
    prose = "\n".join(b.text for b in doc.blocks if isinstance(b, Markdown))
    assert "not a cell" in prose and "shown = 'code'" in prose


def test_qmd_errors_name_the_file_and_line():
    with pytest.raises(RenderError, match=r"c.qmd:3: code cell is never closed"):
        parse_qmd_text("text\n\n```{python}\nx = 1\n", "c.qmd")
    with pytest.raises(RenderError, match=r"c.qmd:1: invalid cell options"):
        parse_qmd_text("```{python}\n#| label: [unclosed\nx\n```\n", "c.qmd")


def test_config_reads_parts_appendices_and_reports_missing_files(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ["index.qmd", "a/one.qmd", "a/two.qmd", "app.qmd"]:
        (tmp_path / name).write_text("---\ntitle: x\n---\n")
    (tmp_path / "refs.bib").write_text("")
    (tmp_path / "_quarto.yml").write_text(
        "project:\n  output-dir: site\nbook:\n  title: Book\n  author: [A, B]\n  chapters:\n    - index.qmd\n"
        "    - part: Part A\n      chapters:\n        - a/one.qmd\n        - a/two.qmd\n"
        "  appendices:\n    - app.qmd\nbibliography: refs.bib\nformat:\n  html:\n    code-fold: true\n")
    cfg = load_config(tmp_path)
    assert cfg.chapter_paths() == ["index.qmd", "a/one.qmd", "a/two.qmd", "app.qmd"]
    assert [c.part for c in cfg.chapters] == [None, "Part A", "Part A", None]
    assert [c.appendix for c in cfg.chapters] == [False, False, False, True]
    assert cfg.author == "A, B" and cfg.output_dir == "site" and cfg.html_options["code-fold"] is True
    (tmp_path / "a" / "two.qmd").unlink()
    with pytest.raises(RenderError, match="chapter 'a/two.qmd' not found"):
        load_config(tmp_path)


def test_cell_markdown_honours_options(tmp_path):
    store = FigureStore(tmp_path, "page")
    png = "iVBORw0KGgo="  # any base64 payload: written as is
    outputs = [{"output_type": "stream", "name": "stdout", "text": "hello\n"},
               {"output_type": "stream", "name": "stderr", "text": "careful\n"},
               {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure>"}}]
    cell = CodeCell("plot()", {"label": "fig-x", "fig-cap": "Cap"}, 3)
    md = cell_markdown(cell, outputs, store, 1, {}, "c.qmd")
    assert "```` {.python .cell-code}" not in md and "plot()" in md
    assert "hello" in md and "careful" in md
    assert "{#fig-x .quarto-float .quarto-figure}" in md and "![](page_files/figure-html/fig-x-output-1.png)" in md
    assert (tmp_path / "page_files" / "figure-html" / "fig-x-output-1.png").is_file()
    quiet = CodeCell("plot()", {"label": "fig-x", "echo": False, "warning": False}, 3)
    md = cell_markdown(quiet, outputs, store, 1, {}, "c.qmd")
    assert "plot()" not in md and "careful" not in md and "hello" in md
    assert cell_markdown(CodeCell("x", {"include": False}, 1), outputs, store, 1, {}, "c.qmd") == ""
    hidden = cell_markdown(CodeCell("x", {"output": False}, 1), outputs, store, 1, {}, "c.qmd")
    assert "hello" not in hidden and "x" in hidden
    with pytest.raises(RenderError, match="c.qmd: cell 'fig-y' \\(line 7\\).*drew no figure"):
        cell_markdown(CodeCell("x", {"label": "fig-y"}, 7), outputs[:1], store, 1, {}, "c.qmd")


def test_helpers_for_streams_and_fences():
    assert clean_stream("10%\r50%\r100%\ndone") == "100%\ndone"
    assert fenced("a ``` b", "{=html}").startswith("````{=html}")


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return path


def test_site_check_accepts_a_good_page(tmp_path):
    (tmp_path / "f.png").write_bytes(b"png")
    write(tmp_path, "other.html", '<h2 id="sec-a">A</h2>')
    good = write(tmp_path, "good.html",
                 '<figure id="fig-a"><img src="f.png"></figure><a href="other.html#sec-a">Section 1</a>'
                 '<span class="citation" data-cites="k">(K 2000)</span><div id="ref-k"></div>'
                 '<pre><code>@fig-in-code is fine</code></pre>'
                 '<pre><code>The value is `{python} x`, in a source listing.</code></pre>')
    assert check_page(good) == []


@pytest.mark.parametrize("body, problem", [
    ("See ?@fig-a.", "unresolved reference ?@fig-a"),
    ("See @fig-a.", "bare reference @fig-a"),
    ("$$x$$", "raw $$ math"),
    ('<figure id="fig-a"><figcaption>no image</figcaption></figure>', "figure fig-a has no image"),
    ('<img src="missing.png">', "image missing.png not found"),
    ('<span class="citation" data-cites="nobody">(nobody?)</span>', "citation nobody has no bibliography entry"),
    ('<a href="nowhere.html">x</a>', "link nowhere.html points at a missing file"),
    ('<a href="#sec-gone">x</a>', "link #sec-gone points at a missing anchor"),
    ("The run.<code>{python} scope_note</code> Then", "inline expression left unevaluated on the page: {python} scope_note"),
])
def test_site_check_finds_each_problem(tmp_path, body, problem):
    problems = check_page(write(tmp_path, "bad.html", body))
    assert any(problem in p for p in problems), problems
