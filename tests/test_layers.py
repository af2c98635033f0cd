"""The package's layers: imports run one way, from book support down to the model.

Every import statement of every module is read from its syntax tree (imports
inside functions included), so a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seu_sensitivity"

#: what each part of the package may import from the package (besides itself)
ALLOWED: dict[str, set[str]] = {
    "settings": set(),
    "model": {"settings"},
    "datasets": {"settings", "model"},
    "inference": {"settings", "model"},
    "plots": {"settings", "model", "inference"},
    "studies": {"settings", "model", "datasets", "inference", "plots"},
    "validation": {"settings", "model", "inference", "plots"},
    "book": {"settings", "model", "datasets", "inference", "plots", "studies", "validation"},
    # the renderer is a separate tool: it knows where the project is, nothing of the library
    "render": {"settings"},
    "cli": set(),  # dispatches by module name (importlib), imports nothing directly
}


def part_of(path: Path, root: Path) -> str:
    """The part of the package a source file belongs to (its top-level name under the package)."""
    relative = path.relative_to(root)
    return relative.parts[0].removesuffix(".py")


def imported_parts(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, part) of every import of the package in one source file.

    ``from seu_sensitivity import x`` counts as an import of part ``x`` when ``x``
    is a part, else of the top-level facade ``__init__``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(root.parent).parent.parts
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module or ""
            if module == "seu_sensitivity":
                names = [f"seu_sensitivity.{alias.name}" for alias in node.names]
            else:
                names = [module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "seu_sensitivity":
                continue
            if len(parts) == 1:
                found.append((node.lineno, "__init__"))
                continue
            target = parts[1]
            is_part = (root / target).is_dir() or (root / f"{target}.py").is_file()
            found.append((node.lineno, target if is_part else "__init__"))
    return found


def layer_violations(root: Path = PACKAGE) -> list[str]:
    """Every import that runs against the layers, as ``file:line: part imports part``."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "__init__.py":
            continue  # the public facade re-exports from every layer
        part = part_of(path, root)
        allowed = ALLOWED.get(part)
        if allowed is None:
            problems.append(f"{path.relative_to(root)}: part {part!r} has no place in the layers (add it to ALLOWED)")
            continue
        for line, target in imported_parts(path, root):
            if target != part and target not in allowed:
                problems.append(f"{path.relative_to(root)}:{line}: {part} imports {target}")
    return problems


def test_imports_run_down_the_layers():
    problems = layer_violations()
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_every_part_has_a_place():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file())) and p.name != "__init__.py"}
    assert parts == set(ALLOWED)


@pytest.mark.parametrize("source, expected", [
    ("from seu_sensitivity.book.checks import Checks\n", "model/bad.py:1: model imports book"),
    ("def f():\n    from seu_sensitivity.studies import study\n", "model/bad.py:2: model imports studies"),
    ("from ..inference import fitting\n", "model/bad.py:1: model imports inference"),
    ("from seu_sensitivity import simulate_cell\n", "model/bad.py:1: model imports __init__"),
])
def test_an_upward_import_is_found(tmp_path, source, expected):
    root = tmp_path / "seu_sensitivity"
    (root / "model").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "model" / "__init__.py").write_text("")
    (root / "model" / "bad.py").write_text(source)
    (root / "book").mkdir()
    (root / "inference").mkdir()
    (root / "studies").mkdir()
    assert layer_violations(root) == [expected]


def readme_layer_table() -> dict[str, set[str]]:
    """The README's map of the package: layer (as written, e.g. ``model/``) -> its modules."""
    text = (PACKAGE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## The package, layer by layer", 1)[1].split("**Where do I change", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        modules = {name.strip("`/") for name in cells[1].split(", ") if name}
        for layer in cells[0].split(", "):
            table[layer.strip("`")] = modules if layer.strip("`").endswith("/") else set()
    return table


def test_the_readme_map_lists_every_module():
    table = readme_layer_table()
    for layer, modules in table.items():
        if not layer.endswith("/"):
            assert (PACKAGE / f"{layer}.py").is_file(), f"README names {layer}, which is not a module"
            continue
        folder = PACKAGE / layer.rstrip("/")
        on_disk = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
        on_disk |= {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
        if modules:  # a layer listed with its modules lists all of them
            assert modules == on_disk, f"README's {layer}: lists {sorted(modules)}, the folder has {sorted(on_disk)}"
    listed = {layer.rstrip("/") for layer in table}
    assert listed == set(ALLOWED) - {"cli"}, f"README's map lists {sorted(listed)}"
