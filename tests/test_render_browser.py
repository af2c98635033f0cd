"""A built chapter in a real browser: headless Chromium typesets the math and loads the figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from seu_sensitivity.render.builtin import render_book

BOOK = Path(__file__).parent / "fixtures" / "render" / "book"

pytestmark = pytest.mark.browser

#: appended to a copy of the page: reports what the browser made of it
PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var maths = Array.from(document.getElementsByTagName('math'));
  var fracs = Array.from(document.getElementsByTagName('mfrac'));
  var stacked = fracs.filter(function (f) {
    var num = f.children[0].getBoundingClientRect(), den = f.children[1].getBoundingClientRect();
    return num.height > 0 && den.height > 0 && num.bottom <= den.top + 1;
  });
  var result = {
    images: images.length,
    images_loaded: images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    math: maths.length,
    math_laid_out: maths.filter(function (m) { var r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length,
    fractions: fracs.length,
    fractions_stacked: stacked.length,
    raw_math_text: /\\$\\$|\\\\frac|\\\\alpha/.test(document.body.innerText),
    sidebar_styled: getComputedStyle(document.querySelector('nav.sidebar')).position === 'fixed'
  };
  var pre = document.createElement('pre');
  pre.id = 'seu-probe';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium not found: run `make browser` (apt-get install chromium) to enable this test")


def probe(page: Path, tmp_path: Path) -> dict:
    """Open ``page`` in headless Chromium (offline) and return what the probe script saw."""
    browser = chromium()
    probe_page = page.with_name(page.stem + "-probe.html")  # same folder: same relative links
    probe_page.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000", "--virtual-time-budget=10000", "--dump-dom",
               probe_page.as_uri()]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        probe_page.unlink()  # the site (shared by other tests) keeps only the book's own pages
    match = re.search(r'<pre id="seu-probe">(.*?)</pre>', proc.stdout)
    assert match, f"no probe result from Chromium (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"'))


def test_chapter_math_is_typeset_and_figures_load(tmp_path):
    """A small fixture chapter with every kind of math the engine emits (fractions included)."""
    chromium()
    site = tmp_path / "site"
    render_book(BOOK, ["one/alpha.qmd"], quick=True, output_dir=site, progress=None, kernel_stderr=None)
    result = probe(site / "one" / "alpha.html", tmp_path)
    assert result["images"] >= 1 and result["images_loaded"] == result["images"], result
    assert result["math"] >= 3 and result["math_laid_out"] == result["math"], result
    assert result["fractions"] >= 1 and result["fractions_stacked"] == result["fractions"], result
    assert result["raw_math_text"] is False, result
    assert result["sidebar_styled"] is True, result  # the site's own CSS loaded from file://


#: a real chapter of the book, with equations and several figures
REAL_CHAPTER = "foundations/single_cell_model.qmd"


def test_a_real_chapter_of_the_book_in_the_browser(quick_book, tmp_path):
    """The book's own single-cell chapter, from the session's quick build."""
    from seu_sensitivity.render.site import page_path

    chromium()
    out, errors = quick_book
    assert REAL_CHAPTER not in errors, errors.get(REAL_CHAPTER)
    result = probe(out / page_path(REAL_CHAPTER), tmp_path)
    assert result["images"] >= 3 and result["images_loaded"] == result["images"], result
    assert result["math"] >= 10 and result["math_laid_out"] == result["math"], result
    assert result["fractions_stacked"] == result["fractions"], result
    assert result["raw_math_text"] is False, result
    assert result["sidebar_styled"] is True, result
