"""The ``seu`` command: a thin dispatcher over the package's modules.

Each subcommand lives in the module that does the work; that module exposes
``configure(parser)`` (adds its arguments) and ``run(args) -> int`` (the exit
status). Modules are imported only when their subcommand runs, so ``seu
--help`` stays fast and a missing optional dependency only affects the
subcommand that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

#: subcommand -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("seu_sensitivity.render.command", "build the book (Quarto when present, else the built-in engine)"),
    "cache": ("seu_sensitivity.inference.cache_command", "list, verify or clear cached fits"),
    "validate": ("seu_sensitivity.validation.command", "recovery and SBC runs for h_m01"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seu", description="SEU sensitivity toolkit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Two passes: find the subcommand, let its module add its own arguments,
    # then parse for real.
    known, _ = parser.parse_known_args(argv[:1] if argv and not argv[0].startswith("-") else argv)
    module = importlib.import_module(known._module)
    sub_parser = parser._subparsers._group_actions[0].choices[known.command]  # noqa: SLF001
    module.configure(sub_parser)
    args = parser.parse_args(argv)
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
