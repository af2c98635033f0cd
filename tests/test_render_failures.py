"""Build failures name the file, the cell and the exception; pages built before remain."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from seu_sensitivity.cli import main
from seu_sensitivity.render import RenderError
from seu_sensitivity.render.builtin import render_book
from seu_sensitivity.render.convert import convert_chapter, scan_labels

FAILING = Path(__file__).parent / "fixtures" / "render" / "failing"


def test_failing_cell_fails_the_command_naming_file_cell_and_exception(tmp_path, capsys):
    status = main(["render", "--engine", "builtin", "--project", str(FAILING), "--output-dir", str(tmp_path)])
    assert status != 0
    err = capsys.readouterr().err
    assert "broken.qmd: cell 'divide' (line 9) failed at line 11: ZeroDivisionError" in err
    assert (tmp_path / "index.html").is_file()  # built before the failure: kept
    assert not (tmp_path / "broken.html").exists()
    assert not (tmp_path / "false_claim.html").exists()  # never reached


def test_failing_proposition_check_fails_the_render(tmp_path):
    with pytest.raises(RenderError) as info:
        render_book(FAILING, ["false_claim.qmd"], output_dir=tmp_path, progress=None, kernel_stderr=None)
    message = str(info.value)
    assert "false_claim.qmd" in message and "cell at line 5" in message
    assert "PropositionCheckFailed" in message and "two plus two is five" in message


def test_unknown_chapter_is_an_error(tmp_path):
    with pytest.raises(RenderError, match="nope.qmd: not a chapter"):
        render_book(FAILING, ["nope.qmd"], output_dir=tmp_path, progress=None, kernel_stderr=None)


def _convert(markdown: str, labels=None):
    return convert_chapter(markdown, title="T", chapter_number="3", page="c.html", labels=labels or {},
                           bibliography=[Path(__file__).parent / "fixtures" / "render" / "book" / "refs.bib"],
                           where="c.qmd")


def test_unknown_citation_key_fails_the_conversion():
    page, _, _ = _convert("As shown by @rubin1981.")
    assert 'id="ref-rubin1981"' in page.body_html
    with pytest.raises(RenderError, match="c.qmd: unknown citation key.*nobody2099"):
        _convert("As shown by @rubin1981 and [@nobody2099].")


def test_unresolved_cross_reference_fails_the_conversion():
    with pytest.raises(RenderError, match=r"c.qmd: unresolved cross-reference.*@fig-missing"):
        _convert("See @fig-missing.")


def test_labels_of_other_chapters_resolve_and_duplicates_fail():
    labels = scan_labels("## Methods {#sec-methods}\n\n![x](a.png){#fig-a}\n", title="Other", chapter_number="2",
                         page="part/other.html", where="other.qmd")
    assert labels["sec-methods"].text() == "Section\u00a02.1"
    assert labels["fig-a"].text() == "Figure\u00a02.1"
    page, own, _ = _convert("## Intro {#sec-intro}\n\nSee @sec-methods, [-@fig-a] and @sec-intro.", labels)
    assert 'href="part/other.html#sec-methods"' in page.body_html
    assert ">2.1</a>" in page.body_html  # -@ drops the prefix
    assert own["sec-intro"].number == "3.1"
    with pytest.raises(RenderError, match="duplicate label 'sec-x'"):
        _convert("## A {#sec-x}\n\n## B {#sec-x}\n")


def test_jobs_below_one_is_a_usage_error(tmp_path, capsys):
    status = main(["render", "--engine", "builtin", "--jobs", "0", "--project", str(FAILING),
                   "--output-dir", str(tmp_path)])
    assert status == 2
    assert "--jobs must be at least 1, got 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was built


class _Announcements(io.StringIO):
    """A progress stream that lets a test wait for a line containing ``marker``."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker, self.seen = marker, threading.Event()

    def write(self, text: str) -> int:
        if self.marker in text:
            self.seen.set()
        return super().write(text)


def _stand_in_kernels(monkeypatch, before_index_returns=lambda: None) -> list[str]:
    """Replace kernel execution: broken.qmd fails at once, other chapters build after
    ``before_index_returns()`` (index.qmd only); returns the chapters executed, in order."""
    from seu_sensitivity.render import builtin
    from seu_sensitivity.render.execute import ExecutionResult

    executed: list[str] = []

    def stand_in(doc, page_dir, *, display_name, **_):
        executed.append(display_name)
        if display_name == "broken.qmd":
            raise RenderError("broken.qmd: cell 'divide' failed: ZeroDivisionError")
        if display_name == "index.qmd":
            before_index_returns()
        return ExecutionResult(markdown="This page builds.\n", figures=[], seconds=0.0)

    monkeypatch.setattr(builtin, "execute_document", stand_in)
    return executed


def test_parallel_failure_is_announced_at_once_and_no_chapter_starts_after_it(tmp_path, monkeypatch):
    """With two chapters at once, broken.qmd fails while index.qmd still runs: the failure is
    reported before index.qmd finishes, false_claim.qmd never starts, and the error raised is
    broken.qmd's. Kernels are replaced by a stand-in so that the order of events is fixed."""
    progress = _Announcements("broken.qmd failed")
    announced_before_index_finished: list[bool] = []
    executed = _stand_in_kernels(
        monkeypatch, lambda: announced_before_index_finished.append(progress.seen.wait(timeout=60)))
    with pytest.raises(RenderError, match="broken.qmd: cell 'divide'"):
        render_book(FAILING, output_dir=tmp_path, progress=progress, kernel_stderr=None, jobs=2)
    assert announced_before_index_finished == [True]
    assert sorted(executed) == ["broken.qmd", "index.qmd"]  # false_claim.qmd never started
    log = progress.getvalue()
    assert "no further chapter starts; waiting for index.qmd to finish" in log
    assert "false_claim.qmd" not in log
    assert (tmp_path / "index.html").is_file()  # the chapter before the failure is written


def test_serial_failure_is_raised_without_an_announcement(tmp_path, monkeypatch):
    """One chapter at a time, nothing else runs when broken.qmd fails: the error is raised
    straight away and the progress stream does not repeat it."""
    _stand_in_kernels(monkeypatch)
    progress = io.StringIO()
    with pytest.raises(RenderError, match="broken.qmd"):
        render_book(FAILING, output_dir=tmp_path, progress=progress, kernel_stderr=None, jobs=1)
    assert "failed" not in progress.getvalue()


def test_render_names_missing_extra_packages(monkeypatch, capsys):
    import argparse
    import importlib.util

    from seu_sensitivity.render import command

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nbclient" else real(name, *a))
    args = argparse.Namespace(project=None, output_dir=None, files=[], engine="builtin", quick=True, jobs=None)
    assert command.run(args) == 2
    err = capsys.readouterr().err
    assert "missing nbclient" in err and "seu_sensitivity[render]" in err


def test_an_empty_inline_value_fails_the_render_naming_the_expression(tmp_path):
    """Quarto prints `{python} note` itself where its value is empty; the built-in engine refuses it."""
    with pytest.raises(RenderError, match=r"index.qmd: inline expression `note` \(line 9\) has an empty value"):
        render_book(Path(__file__).parent / "fixtures" / "render" / "empty_inline", output_dir=tmp_path,
                    progress=None, kernel_stderr=None)
