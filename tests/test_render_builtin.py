"""The built-in engine on a fixture book with every feature the chapters use.

The book (tests/fixtures/render/book) has a preface and a part with two
chapters: parameters and quick mode, inline code, figures with captions and
sizes, DataFrame and markdown tables, an equation, sections, callouts,
citations, generated markdown, references within and across chapters, and
proposition checks.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from seu_sensitivity.render.builtin import render_book
from seu_sensitivity.render.sitecheck import check_site

BOOK = Path(__file__).parent / "fixtures" / "render" / "book"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fixture_book")
    timings = render_book(BOOK, quick=True, output_dir=out, progress=None, kernel_stderr=None)
    assert [t.source for t in timings] == ["index.qmd", "one/alpha.qmd", "one/beta.qmd"]
    return out


def page(site: Path, name: str) -> str:
    return (site / name).read_text(encoding="utf-8")


def text_of(html: str) -> str:
    """Visible text, roughly: tags removed, whitespace collapsed."""
    html = re.sub(r"<(pre|math)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("\u00a0", " ")


def test_every_page_is_built_where_quarto_puts_it(site):
    assert (site / "index.html").is_file()
    assert (site / "one" / "alpha.html").is_file()
    assert (site / "one" / "beta.html").is_file()
    assert (site / "site_libs" / "seu-book.css").is_file()


def test_site_has_no_unresolved_reference_missing_image_citation_or_anchor(site):
    assert check_site(site) == []


def test_quick_parameter_and_inline_code_are_evaluated_in_the_chapter_folder(site):
    text = text_of(page(site, "one/alpha.html"))
    assert "We draw 10 values (quick mode: True) in the folder one." in text
    assert "{python}" not in text


def test_inline_code_after_a_figure_keeps_its_value(site):
    # IPython sends no execute_result without history once a figure was shown
    assert "After the figure, inline code still shows its value: 10 points." in text_of(page(site, "one/alpha.html"))


def test_sections_figures_tables_equations_are_numbered_and_linked(site):
    html = page(site, "one/alpha.html")
    assert re.search(r'<h2 id="sec-alpha-intro"><span class="header-section-number">1\.1</span> Introduction', html)
    assert re.search(r'<h2 id="sec-alpha-results"><span class="header-section-number">1\.2</span> Results', html)
    assert re.search(r'<figure id="fig-sine"[^>]*>.*?<img src="alpha_files/figure-html/[^"]+\.png".*?Figure\u00a01\.1:.*?</figure>', html, re.S)
    assert 'id="tbl-summary"' in html and "Table\u00a01.1:</span> Summary of the draws." in html
    assert "Table\u00a01.2:</span> Symbols of the chapter." in html
    assert re.search(r'<span id="eq-softmax" class="quarto-equation"><math display="block".*?\(1\.1\)', html, re.S)
    text = text_of(html)
    assert "See Figure 1.1, Table 1.1, Table 1.2 and Section 1.2." in text
    assert "The softmax is Equation 1.1;" in text
    assert '<a href="#fig-sine" class="quarto-xref">' in html


def test_generated_markdown_output_can_hold_references(site):
    assert "Generated markdown can point at Figure 1.1 and Table 1.1." in text_of(page(site, "one/alpha.html"))


def test_references_resolve_across_chapters_with_relative_links(site):
    beta = page(site, "one/beta.html")
    assert 'href="alpha.html#fig-sine"' in beta and 'href="alpha.html#sec-alpha-intro"' in beta
    assert "refers to Figure 1.1, Equation 1.1 and Section 1.1 of the previous chapter, and to its own Figure 2.1." \
        in text_of(beta)
    index = page(site, "index.html")
    assert 'href="one/alpha.html#sec-alpha-intro"' in index and 'href="one/beta.html#fig-diagram"' in index


def test_figure_size_option_sets_matplotlib_size_and_png_is_a_file(site):
    html = page(site, "one/alpha.html")
    assert "[4.0, 3.0]" in html  # fig-width: 4, fig-height: 3 as seen inside the cell
    png = next((site / "one" / "alpha_files" / "figure-html").glob("fig-sine*.png"))
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    assert width > height > 0
    assert "data:image/png;base64" not in html


def test_markdown_images_are_copied_next_to_the_page(site):
    assert (site / "one" / "images" / "diagram.svg").is_file()
    assert re.search(r'<figure id="fig-diagram".*?Figure\u00a02\.1:', page(site, "one/beta.html"), re.S)


def test_cell_options_echo_include_output_warning(site):
    html = page(site, "one/alpha.html")
    assert "import warnings" not in html  # include: false hides the code
    assert "statistic" in html and "pd.DataFrame" not in html  # echo: false shows only the output
    assert "this output is hidden" in html and '<code>this output is hidden' not in html  # output: false
    assert "kept stdout" in html and "this warning is dropped</code>" not in html  # warning: false
    assert '<details class="code-fold"><summary>Code</summary>' in html  # format.html.code-fold


def test_callouts_have_titles_and_collapse(site):
    html = page(site, "one/alpha.html")
    assert re.search(r'class="callout callout-note[^"]*">\s*<div class="callout-header">\s*A titled note', html)
    assert re.search(r'<details class="callout-details">\s*<summary class="callout-header">Collapsed warning</summary>', html)
    beta = page(site, "one/beta.html")
    assert re.search(r'class="callout callout-tip[^"]*">\s*<div class="callout-header">\s*Cross-chapter references', beta)


def test_citations_and_bibliography(site):
    html = page(site, "one/alpha.html")
    assert 'data-cites="gelman2013bda"' in html and 'id="ref-gelman2013bda"' in html
    assert "Bayesian Data Analysis" in html
    assert 'id="ref-rubin1981"' in page(site, "index.html")


def test_sidebar_lists_every_chapter_with_parts_and_prev_next(site):
    html = page(site, "one/beta.html")
    sidebar = html.split('<nav class="sidebar"', 1)[1].split("</nav>", 1)[0]
    assert '<a href="../index.html">Preface</a>' in sidebar
    assert "Part One" in sidebar and 'href="alpha.html">1\u2002Alpha' in sidebar
    assert 'aria-current="page" href="beta.html"' in sidebar
    assert 'rel="prev" href="alpha.html"' in html and 'rel="next"' not in html
    assert 'href="../site_libs/seu-book.css"' in html


def test_proposition_checks_table_is_shown(site):
    html = page(site, "one/alpha.html")
    assert 'class="dataframe proposition-checks"' in html
    assert "softmax sums to one" in html


def test_site_is_offline(site):
    for html_file in site.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', html), html_file


def test_rendering_one_chapter_keeps_the_book_sidebar_and_cross_references(tmp_path):
    timings = render_book(BOOK, ["one/beta.qmd"], quick=False, output_dir=tmp_path, progress=None, kernel_stderr=None)
    assert [t.source for t in timings] == ["one/beta.qmd"]
    assert not (tmp_path / "index.html").exists()
    html = (tmp_path / "one" / "beta.html").read_text(encoding="utf-8")
    assert "Quick mode is False here." in text_of(html)  # full settings by default
    assert 'href="alpha.html#fig-sine"' in html and "Figure\u00a01.1" in html
    assert 'href="alpha.html">1\u2002Alpha' in html


def test_one_chapter_at_a_time_builds_the_same_pages(site, tmp_path):
    """The site fixture executes chapters in parallel (the default on two cores);
    executing them one at a time must give the same HTML, in the same order."""
    timings = render_book(BOOK, quick=True, output_dir=tmp_path, progress=None, kernel_stderr=None, jobs=1)
    assert [t.source for t in timings] == ["index.qmd", "one/alpha.qmd", "one/beta.qmd"]
    for name in ("index.html", "one/alpha.html", "one/beta.html"):
        assert page(tmp_path, name) == page(site, name), name


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="jobs must be at least 1, got 0"):
        render_book(BOOK, quick=True, output_dir=tmp_path, progress=None, kernel_stderr=None, jobs=0)
