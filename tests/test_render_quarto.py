"""The Quarto engine, with a stand-in ``quarto`` executable in a temporary PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seu_sensitivity.cli import main
from seu_sensitivity.render.quarto import find_quarto

BOOK = Path(__file__).parent / "fixtures" / "render" / "book"

STAND_IN = """#!/bin/sh
printf '%s\\n' "$@" > "$SEU_TEST_ARGS"
pwd > "$SEU_TEST_CWD"
echo "stand-in quarto: rendering"
exit ${SEU_TEST_STATUS:-0}
"""


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "quarto"
    exe.write_text(STAND_IN)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.setenv("SEU_TEST_ARGS", str(tmp_path / "args.txt"))
    monkeypatch.setenv("SEU_TEST_CWD", str(tmp_path / "cwd.txt"))
    return tmp_path


def recorded(tmp_path: Path) -> list[str]:
    return (tmp_path / "args.txt").read_text().splitlines()


def test_auto_uses_quarto_when_on_path_and_passes_files_quick_and_output_dir(stand_in, capfd):
    status = main(["render", "--project", str(BOOK), "--quick", "--output-dir", str(stand_in / "site"),
                   "one/alpha.qmd"])
    assert status == 0
    assert recorded(stand_in) == ["render", "one/alpha.qmd", "-P", "quick:true", "--output-dir",
                                  str((stand_in / "site").resolve())]
    assert Path((stand_in / "cwd.txt").read_text().strip()).resolve() == BOOK.resolve()
    out = capfd.readouterr().out
    assert "Quarto found, using the quarto engine" in out
    assert "stand-in quarto: rendering" in out  # its output streams through


def test_full_settings_pass_no_parameter(stand_in):
    assert main(["render", "--engine", "quarto", "--project", str(BOOK)]) == 0
    assert recorded(stand_in) == ["render"]


def test_exit_status_of_quarto_is_returned(stand_in, monkeypatch):
    monkeypatch.setenv("SEU_TEST_STATUS", "3")
    assert main(["render", "--engine", "quarto", "--project", str(BOOK)]) == 3


def test_quarto_path_names_the_executable(stand_in, monkeypatch):
    elsewhere = stand_in / "opt" / "quarto-bin"
    elsewhere.mkdir(parents=True)
    (stand_in / "bin" / "quarto").rename(elsewhere / "quarto")
    assert find_quarto() is None
    monkeypatch.setenv("QUARTO_PATH", str(elsewhere / "quarto"))
    assert find_quarto() == str(elsewhere / "quarto")
    assert main(["render", "--engine", "quarto", "--project", str(BOOK), "--quick"]) == 0
    assert recorded(stand_in) == ["render", "-P", "quick:true"]


def test_missing_quarto_when_asked_for_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    assert main(["render", "--engine", "quarto", "--project", str(BOOK)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Quarto not found" in err and "https://quarto.org" in err and "--engine builtin" in err


def test_auto_without_quarto_says_it_uses_the_builtin_engine(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path), os.path.dirname(os.sys.executable)]))
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    status = main(["render", "--project", str(BOOK), "--quick", "--output-dir", str(tmp_path / "site"),
                   "index.qmd"])
    assert status == 0
    assert "Quarto not found, using the builtin engine" in capsys.readouterr().out
    assert (tmp_path / "site" / "index.html").is_file()


def test_quarto_runs_the_chapters_with_this_python(stand_in, monkeypatch):
    """Without QUARTO_PYTHON, Quarto would pick whatever python3 is on PATH, which lacks the package."""
    import sys

    exe = stand_in / "bin" / "quarto"
    exe.write_text(STAND_IN.replace('pwd > "$SEU_TEST_CWD"', 'echo "$QUARTO_PYTHON" > "$SEU_TEST_CWD"'))
    monkeypatch.delenv("QUARTO_PYTHON", raising=False)
    assert main(["render", "--engine", "quarto", "--project", str(BOOK)]) == 0
    assert (stand_in / "cwd.txt").read_text().strip() == sys.executable
    monkeypatch.setenv("QUARTO_PYTHON", "/opt/other/python")
    assert main(["render", "--engine", "quarto", "--project", str(BOOK)]) == 0
    assert (stand_in / "cwd.txt").read_text().strip() == "/opt/other/python"
