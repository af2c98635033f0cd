"""Stan programs share functions through ``#include``, expanded by the package.

1. expand_includes: nested includes, a missing file (named with the including
   file and line), cycles.
2. The packaged programs: each is self-contained once expanded, every shared
   function is defined once under stan/, and the blocks are laid out so that
   stan_blocks finds them.
3. The fit cache key follows the included text: editing the functions file
   changes the key of every program that includes it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from seu_sensitivity import simulate_cell
from seu_sensitivity.inference import fitting
from seu_sensitivity.inference.backends import get_backend
from seu_sensitivity.inference.backends.base import StanProgram
from seu_sensitivity.inference.cache import FitCache
from seu_sensitivity.inference.programs import (
    BLOCK_NAMES,
    REGISTRY,
    StanIncludeError,
    expand_includes,
    stan_blocks,
    stan_code,
    stan_file,
)
from seu_sensitivity.settings import stan_dir

FUNCTIONS_FILE = "functions/seu_choice.stanfunctions"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- 1. expansion ---------------------------------------------------------------


def test_nested_includes_are_expanded_in_place(tmp_path):
    write(tmp_path, "lib/inner.stanfunctions", "  real one() { return 1; }\n")
    write(tmp_path, "lib/outer.stanfunctions", '#include "inner.stanfunctions"\n  real two() { return one() + one(); }')
    main = write(tmp_path, "m.stan", "functions {\n#include lib/outer.stanfunctions\n}\nmodel {\n}\n")
    assert expand_includes(main, [tmp_path]) == (
        "functions {\n  real one() { return 1; }\n  real two() { return one() + one(); }\n}\nmodel {\n}\n"
    )


def test_includes_are_found_beside_the_file_then_in_the_include_folders(tmp_path):
    write(tmp_path, "shared/f.stanfunctions", "// shared\n")
    write(tmp_path, "programs/f.stanfunctions", "// beside\n")
    beside = write(tmp_path, "programs/a.stan", "#include f.stanfunctions\n")
    elsewhere = write(tmp_path, "other/b.stan", "#include <f.stanfunctions>\n")
    assert expand_includes(beside, [tmp_path / "shared"]) == "// beside\n"
    assert expand_includes(elsewhere, [tmp_path / "shared"]) == "// shared\n"


def test_a_commented_include_is_left_alone(tmp_path):
    main = write(tmp_path, "m.stan", "// #include nothing.stan\nmodel {\n}\n")
    assert expand_includes(main, [tmp_path]) == "// #include nothing.stan\nmodel {\n}\n"


def test_a_missing_include_names_the_including_file_its_line_and_the_path(tmp_path):
    write(tmp_path, "lib/outer.stanfunctions", "// first line\n#include lib/absent.stanfunctions\n")
    main = write(tmp_path, "m.stan", "functions {\n#include lib/outer.stanfunctions\n}\n")
    with pytest.raises(StanIncludeError) as error:
        expand_includes(main, [tmp_path])
    message = str(error.value)
    assert str(tmp_path / "lib" / "outer.stanfunctions") in message
    assert "line 2" in message and "'lib/absent.stanfunctions'" in message and "no such file" in message


@pytest.mark.parametrize("files", [
    {"m.stan": "#include m.stan\n"},
    {"m.stan": "#include a.stanfunctions\n", "a.stanfunctions": "#include b.stanfunctions\n",
     "b.stanfunctions": "#include a.stanfunctions\n"},
], ids=["self", "a-b-a"])
def test_an_include_cycle_is_an_error_naming_the_chain(tmp_path, files):
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(StanIncludeError, match="#include cycle: .*m.stan|#include cycle: .*a.stanfunctions -> .*b.stan"):
        expand_includes(tmp_path / "m.stan", [tmp_path])


def test_a_file_may_be_included_twice_without_a_cycle(tmp_path):
    write(tmp_path, "f.stanfunctions", "// f\n")
    main = write(tmp_path, "m.stan", "#include f.stanfunctions\n#include f.stanfunctions\n")
    assert expand_includes(main, [tmp_path]) == "// f\n// f\n"


# -- 2. the packaged programs ---------------------------------------------------

PROGRAMS = ["m_01", "h_m01", "bench/h_m01_per_obs"]


@pytest.mark.parametrize("model", PROGRAMS)
def test_programs_include_the_shared_functions_and_expand_to_one_text(model):
    raw = stan_file(model).read_text(encoding="utf-8")
    assert f"#include {FUNCTIONS_FILE}" in raw.splitlines()
    code = stan_code(model)
    assert not any(line.lstrip().startswith("#include") for line in code.splitlines())
    assert (stan_dir() / FUNCTIONS_FILE).read_text(encoding="utf-8") in code
    assert list(stan_blocks(code)) == list(BLOCK_NAMES)


def test_every_function_is_written_once_under_stan():
    """No function body is written twice: the shared file defines each function once, and
    no program (primers aside) defines a function of its own."""
    shared = (stan_dir() / FUNCTIONS_FILE).read_text(encoding="utf-8")
    definition = re.compile(r"^  (?:array\[\] )?(?:real|int|vector|row_vector|matrix|void) (\w+)\(", re.M)
    names = definition.findall(shared)
    assert len(names) == len(set(names)) == 10, names
    for path in sorted(stan_dir().rglob("*.stan")):
        if "primer" in path.parts:
            continue
        functions = stan_blocks(path.read_text(encoding="utf-8"))["functions"]
        assert functions.splitlines()[1:-1] == [f"#include {FUNCTIONS_FILE}"], path


def test_registry_names_run_existing_programs():
    for name, spec in REGISTRY.items():
        assert stan_file(name) == stan_dir() / f"{spec.file}.stan"
    assert stan_file("h_m01_centered") == stan_file("h_m01")


def test_stan_blocks_refuses_text_without_the_layout():
    with pytest.raises(ValueError, match="closing brace"):
        stan_blocks("model {\n  target += 0; }\n")
    with pytest.raises(ValueError, match="Stan's order"):
        stan_blocks("model {\n}\ndata {\n}\n")


def test_from_file_expands_includes(tmp_path):
    write(tmp_path, "f.stanfunctions", "  real one() { return 1; }\n")
    main = write(tmp_path, "m.stan", "functions {\n#include f.stanfunctions\n}\n")
    assert StanProgram.from_file("m", main).source == "functions {\n  real one() { return 1; }\n}\n"


# -- 3. the fit cache key -------------------------------------------------------


def test_the_cache_key_changes_when_an_included_file_changes(tmp_path, monkeypatch):
    """fit() hashes the expanded text: a comment added to the functions file alone gives a new key."""
    try:
        get_backend()
    except Exception as error:  # no backend installed: fit() stops before the key
        pytest.skip(str(error))
    copy = tmp_path / "stan"
    shutil.copytree(stan_dir(), copy)
    monkeypatch.setenv("SEU_STAN_DIR", str(copy))
    monkeypatch.setenv("SEU_CACHE_DIR", str(tmp_path / "fits"))
    keys: list[str] = []

    def record(self, key, create, meta):
        keys.append(key)
        return None, False

    monkeypatch.setattr(FitCache, "get_or_create", record)
    cell, _ = simulate_cell(M=10, R=4, D=2, K=3, seed=1)
    fitting.fit("m_01", cell, chains=1, warmup=10, draws=10)
    fitting.fit("m_01", cell, chains=1, warmup=10, draws=10)
    with open(copy / FUNCTIONS_FILE, "a", encoding="utf-8") as functions:
        functions.write("  // edited\n")
    fitting.fit("m_01", cell, chains=1, warmup=10, draws=10)
    assert keys[0] == keys[1] != keys[2]


def test_functions_from_shows_the_last_functions_with_their_comments():
    from seu_sensitivity.inference.programs import functions_from, stan_blocks

    excerpt = functions_from("h_m01", "expected_utilities")
    assert excerpt.startswith("functions {\n  ...\n  //")
    assert "vector expected_utilities(" in excerpt and excerpt.endswith("}")
    # exactly the tail of the functions block
    assert stan_blocks("h_m01")["functions"].endswith(excerpt.split("  ...\n", 1)[1])
    with pytest.raises(ValueError, match="'no_such_function'"):
        functions_from("h_m01", "no_such_function")
