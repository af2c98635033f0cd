"""``seu cache list|verify|clear``: look after the fit cache from the command line.

Examples::

    seu cache list                     # table: key, model, backend, size, created
    seu cache verify                   # exit status 1 if any entry is corrupt, naming it
    seu cache verify --remove          # ... and remove the corrupt ones (they refit next render)
    seu cache clear                    # remove every entry (and the results remembered from them)
    seu cache clear 3fa2 91c0e7        # remove entries by key or unique key prefix
    seu cache --dir /tmp/fits list     # another cache folder (default: $SEU_CACHE_DIR or .cache/fits)

Keys may be abbreviated to any unique prefix, as with git objects, because the
table shows only the first 12 characters.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path
from typing import TextIO

from seu_sensitivity.inference.cache import CacheEntry, CorruptCacheEntryWarning, FitCache

#: characters of the key shown in the table (unique in practice, like git's short hashes)
SHORT = 12


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``list``/``verify``/``clear`` actions and ``--dir`` to ``seu cache``."""
    parser.add_argument("--dir", type=Path, default=None, help="cache folder (default: $SEU_CACHE_DIR or <project>/.cache/fits)")
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        # also accepted after the action; SUPPRESS so an absent option here does
        # not overwrite one given before the action
        sub.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return sub

    action("list", "list cached fits: key, model, backend, size, created")
    verify = action("verify", "check every entry (or the given ones); exit status 1 if any is corrupt")
    verify.add_argument("keys", nargs="*", metavar="KEY", help="keys or unique key prefixes (default: all)")
    verify.add_argument("--remove", action="store_true", help="remove corrupt entries (they are refitted when next needed)")
    clear = action("clear", "remove cached fits (all, or the given keys)")
    clear.add_argument("keys", nargs="*", metavar="KEY", help="keys or unique key prefixes (default: all)")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out the action; return the exit status (0 ok, 1 corrupt entries, 2 bad key)."""
    out = out or sys.stdout
    cache = FitCache(args.dir)
    try:
        if args.cache_action == "list":
            return _list(cache, out)
        if args.cache_action == "verify":
            return _verify(cache, _resolve(cache, args.keys), args.remove, out)
        if args.cache_action == "clear":
            keys = _resolve(cache, args.keys) if args.keys else None
            removed = cache.clear(keys)
            print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} from {cache.root}", file=out)
            derived = cache.root / "derived"
            if keys is None and derived.is_dir():  # results remembered from the fits (seu_sensitivity.inference.memo)
                shutil.rmtree(derived)
                print(f"removed the remembered diagnostics and LOO results ({derived})", file=out)
            return 0
    except KeyError as err:
        print(f"seu cache: {err.args[0]}", file=sys.stderr)
        return 2
    raise AssertionError(f"unknown action {args.cache_action!r}")  # argparse refuses these first


def _resolve(cache: FitCache, prefixes: list[str]) -> list[str]:
    """Full keys for the given keys or unique prefixes; KeyError names a bad one."""
    known = [entry.key for entry in cache.entries()]
    keys = []
    for prefix in prefixes:
        matches = [key for key in known if key.startswith(prefix.lower())]
        if len(matches) != 1:
            problem = "no cache entry" if not matches else f"{len(matches)} cache entries"
            raise KeyError(f"{problem} with key {prefix!r} in {cache.root}")
        keys.append(matches[0])
    return keys


def _size(n: int) -> str:
    """Bytes in the largest unit that keeps the number below 1024: '3.2 MB'."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover


def _row(entry: CacheEntry) -> list[str]:
    created = entry.created.astimezone().strftime("%Y-%m-%d %H:%M") if entry.created else "?"
    return [
        entry.key[:SHORT],
        str(entry.meta.get("model", "-")),
        str(entry.meta.get("backend", "-")),
        _size(entry.size),
        created,
    ]


def _list(cache: FitCache, out: TextIO) -> int:
    entries = cache.entries()
    if not entries:
        print(f"no cached fits in {cache.root}", file=out)
        return 0
    rows = [["KEY", "MODEL", "BACKEND", "SIZE", "CREATED"], *(_row(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        # size right-aligned so the numbers line up; the rest left-aligned
        cells = [cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=out)
    total = sum(e.size for e in entries)
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {_size(total)} in {cache.root}", file=out)
    return 0


def _verify(cache: FitCache, keys: list[str], remove: bool, out: TextIO) -> int:
    results = [r for key in keys for r in cache.verify(key)] if keys else cache.verify()
    corrupt = [r for r in results if r.status == "corrupt"]
    for result in results:
        if result.ok:
            print(f"ok       {result.key}", file=out)
        else:
            print(f"{result.status:<8} {result.key}  {result.path}: {result.reason}", file=out)
    if remove and corrupt:
        # load() re-checks under the key's lock and removes only what is still
        # corrupt then (a writer may have repaired it meanwhile); its warning
        # would repeat what was just printed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CorruptCacheEntryWarning)
            for result in corrupt:
                cache.load(result.key)
    summary = f"{len(results)} checked, {len(corrupt)} corrupt"
    summary += " (removed)" if remove and corrupt else ""
    print(summary, file=out)
    return 1 if corrupt else 0
