"""A content-addressed cache of fits: a hash of everything that determines a fit
names a netCDF file holding its InferenceData.

The book regenerates every fit on each render, so a fit that has been computed
once must come back from disk, and a fit whose inputs changed must be redone.
The cache therefore keys on *everything* that determines the result (Stan
source, data, sampler settings and seed, backend and its version; see
:meth:`FitCache.make_key`) and never on anything else (file paths, dates).

Typical use (this is what ``fit()`` does)::

    >>> import numpy as np, arviz as az, tempfile
    >>> cache = FitCache(tempfile.mkdtemp())
    >>> key = FitCache.make_key(stan="data { int N; } ...", data={"N": 3},
    ...                         settings={"chains": 2, "iter_sampling": 5}, seed=1,
    ...                         backend="cmdstanpy", backend_version="1.3.2")
    >>> make = lambda: az.from_dict(posterior={"mu": np.zeros((2, 5))})
    >>> idata, hit = cache.get_or_create(key, make, meta={"model": "m_01"})
    >>> hit
    False
    >>> idata, hit = cache.get_or_create(key, make, meta={"model": "m_01"})
    >>> hit
    True

On-disk layout (like git's object store: a two-character shard folder keeps
folders small)::

    <root>/<key[:2]>/<key>.nc      the InferenceData (netCDF4/HDF5, arviz layout)
    <root>/<key[:2]>/<key>.json    sidecar: meta, SHA-256 and size of the .nc, groups
    <root>/<key[:2]>/<key>.lock    per-key file lock (filelock)

The sidecar is written last, by an atomic rename, and is the *commit marker*:
an entry is valid only if its sidecar parses, names the key, and the .nc
bytes have the recorded size and SHA-256 and open as netCDF with the recorded
groups. Anything else (a crash between the two renames, a truncated copy, a
disk error, a hand edit) is reported, removed and refitted rather than
trusted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import arviz as az
import numpy as np
from filelock import FileLock

from seu_sensitivity.settings import cache_dir

__all__ = [
    "CacheEntry",
    "CacheWriteWarning",
    "CorruptCacheEntryWarning",
    "FitCache",
    "VerifyResult",
    "atomic_write_bytes",
    "content_hash",
]

logger = logging.getLogger(__name__)

#: version of the sidecar layout; bump when it changes incompatibly
FORMAT_VERSION = 1

#: keys are hex digests (as :meth:`FitCache.make_key` makes them). Refusing
#: anything else means a key can never name a path outside the cache root.
_KEY_RE = re.compile(r"^[0-9a-f]{2,128}$")

#: netCDF engine for reading and writing; h5netcdf reads from memory (BytesIO),
#: so the bytes we check-summed are exactly the bytes we parse.
_ENGINE = "h5netcdf"


class CorruptCacheEntryWarning(UserWarning):
    """A cache entry was corrupt, truncated or incomplete; it was removed and will be refitted.

    Attributes ``key``, ``path`` and ``reason`` say which entry and why, so a
    caller (or a test) can act on them without parsing the message.
    """

    def __init__(self, key: str, path: Path, reason: str) -> None:
        self.key = key
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"corrupt fit cache entry {key} at {path}: {reason}; removed, will refit")


class CacheWriteWarning(UserWarning):
    """A fresh fit could not be stored (disk full, permissions...); it is returned uncached."""


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One entry as :meth:`FitCache.entries` lists it.

    ``created`` and ``meta`` come from the sidecar; an entry whose sidecar is
    missing or unreadable is still listed (so ``seu cache list`` shows it) with
    ``created=None`` and empty ``meta``; :meth:`FitCache.verify` says what is wrong.
    """

    key: str
    path: Path  #: the .nc file
    size: int  #: bytes of the .nc file (0 if missing)
    created: _dt.datetime | None  #: when it was stored (UTC)
    meta: dict[str, Any]  #: what the caller stored: model, backend, ...


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """The verdict on one entry.

    ``status`` is ``"ok"``, ``"corrupt"`` (reason says why), ``"missing"`` (no
    such key) or ``"busy"`` (another process holds the key's lock, i.e. is
    writing it right now; not an error).
    """

    key: str
    path: Path
    status: Literal["ok", "corrupt", "missing", "busy"]
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _Corrupt(Exception):
    """Internal: an entry failed a check; the message is the reason."""


# --------------------------------------------------------------------------- keys


def _canonical(obj: Any, where: str) -> Any:
    """Turn ``obj`` into plain JSON values, one way only, so equal inputs hash equally.

    Why these choices:

    * numpy arrays and scalars become their values (``tolist``), so a data dict
      built with arrays and the same dict built with lists (as ``to_stan()``
      gives) share a key: they are the same data to Stan. ``1`` and ``1.0``
      stay different (int vs real data).
    * floats are written by ``repr`` (what :mod:`json` does), which round-trips
      exactly, so 0.1 + 0.2 and 0.3 are different keys.
    * dict keys are sorted; non-string keys are kept typed (``{1: ...}`` and
      ``{"1": ...}`` differ) by encoding such dicts as sorted pairs.
    * tagged forms are dicts with a ``"$type"`` key; user dict keys starting
      with ``$`` get one more ``$`` so a user dict can never look like a tag.
    * anything else (objects, paths, functions) is refused: hashing its
      ``repr`` would silently key on memory addresses or on a file *name*
      instead of its content.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):  # numpy scalars, before int/float (np.float64 is a float)
        if isinstance(obj, (np.complexfloating, np.datetime64, np.timedelta64, np.void)):
            raise TypeError(f"make_key: part {where} has an unhashable numpy scalar of type {type(obj).__name__}")
        return _canonical(obj.item(), where)
    if isinstance(obj, int):
        return int(obj)  # IntEnum and friends → plain int
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            # JSON has no NaN; tag them so they still hash deterministically
            return {"$type": "float", "value": repr(float(obj))}
        return float(obj)
    if isinstance(obj, bytes):
        return {"$type": "bytes", "hex": obj.hex()}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {("$" + k if k.startswith("$") else k): _canonical(v, f"{where}[{k!r}]") for k, v in obj.items()}
        pairs = [[_canonical(k, f"{where} key {k!r}"), _canonical(v, f"{where}[{k!r}]")] for k, v in obj.items()]
        pairs.sort(key=lambda kv: json.dumps(kv[0], sort_keys=True))
        return {"$type": "dict", "items": pairs}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        items = [_canonical(v, f"{where} element") for v in obj]
        items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return {"$type": "set", "items": items}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "cmMV":
            raise TypeError(f"make_key: part {where} is an array of unhashable dtype {obj.dtype}")
        # values, not bytes: see above; object arrays go elementwise, so odd objects are refused
        return _canonical(obj.tolist(), where)
    pd = _pandas()
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return {
                "$type": "DataFrame",
                "columns": _canonical(list(obj.columns), f"{where}.columns"),
                "index": _canonical(obj.index, f"{where}.index"),
                "dtypes": [str(t) for t in obj.dtypes],
                "data": [_canonical(obj.iloc[:, i], f"{where}[{c!r}]") for i, c in enumerate(obj.columns)],
            }
        if isinstance(obj, pd.Series):
            out: dict[str, Any] = {
                "$type": "Series",
                "name": _canonical(obj.name, f"{where}.name"),
                "dtype": str(obj.dtype),
                "index": _canonical(obj.index, f"{where}.index"),
                "values": _canonical(obj.tolist(), where),
            }
            if isinstance(obj.dtype, pd.CategoricalDtype):  # category order is part of the data
                out["categories"] = _canonical(list(obj.cat.categories), f"{where}.categories")
            return out
        if isinstance(obj, pd.Index):
            return {"$type": "Index", "name": _canonical(obj.name, f"{where}.name"), "values": _canonical(obj.tolist(), where)}
    raise TypeError(
        f"make_key: part {where} has type {type(obj).__module__}.{type(obj).__qualname__}, which cannot be "
        "hashed reliably; pass its content as str/int/float/bool/None, lists, dicts, numpy or pandas objects"
    )


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is a dependency, but keep make_key usable without it
        return None
    return pandas


def _jsonable_meta(obj: Any) -> Any:
    """Meta is informative, not part of the key, so it is converted leniently:
    numpy values to their Python values, paths and dates to strings, anything
    else to ``str``. Done *before* fitting so a bad meta fails fast."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, float) and not math.isfinite(obj):
            return repr(obj)
        return obj
    if isinstance(obj, np.generic):
        return _jsonable_meta(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable_meta(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): _jsonable_meta(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable_meta(v) for v in obj]
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    return str(obj)


def content_hash(**parts: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts``: the package's one content hash.

    Every value is first made canonical (numpy values become Python values,
    dict keys are sorted, floats are exact, objects without a defined content
    are refused), so equal inputs hash equally whatever their container types,
    and different inputs differ. :meth:`FitCache.make_key` and the validation
    run keys both use it.

    Parameters
    ----------
    **parts
        The inputs, by name; order of keyword arguments and of dict keys does
        not matter.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    TypeError
        If a part holds a value whose content cannot be hashed reliably.

    Examples
    --------
    >>> import numpy as np
    >>> content_hash(n=np.int64(3), x=[0.5]) == content_hash(x=(0.5,), n=3)
    True
    >>> content_hash(n=3) == content_hash(n=3.0)
    False
    """
    canonical = {name: _canonical(value, repr(name)) for name, value in parts.items()}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------- helpers


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: on POSIX the directory entry lives in the folder."""
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. some network filesystems)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_synced_temporary(folder: Path, prefix: str, data: bytes) -> Path:
    """Write ``data`` to a new hidden temporary file in ``folder``, flushed to disk; return its path.

    The file is named ``<prefix><random>.tmp`` and is removed again if writing fails.
    """
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return Path(name)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` as the file ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a hidden temporary file in the same folder (so the rename
    stays on one filesystem and is atomic), which is flushed and fsynced, then
    renamed over ``path`` with :func:`os.replace`, and the folder is fsynced so
    the rename survives a crash. If anything fails before the rename the
    temporary file is removed and ``path`` is left as it was. Missing parent
    folders are created.

    Parameters
    ----------
    path
        The file to write.
    data
        Its complete new content.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "sub" / "record.json"
    >>> atomic_write_bytes(target, b"{}").read_bytes()
    b'{}'
    >>> sorted(p.name for p in target.parent.iterdir())
    ['record.json']
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _write_synced_temporary(folder, f".{path.name}.", data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(folder)
    return path


def _read_idata(raw: bytes) -> az.InferenceData:
    """Parse netCDF bytes into an InferenceData held entirely in memory.

    Why from bytes: no file handle outlives the call (``az.from_netcdf`` loads
    lazily and keeps the file open), so the entry can be replaced or cleared
    right after, and what is parsed is exactly what was check-summed.

    Why netCDF4 (the C library) to read what h5netcdf wrote: the same file,
    parsed once for all groups, loads 2 to 3 times faster; h5netcdf spent most
    of a warm re-render's loading time resolving dimension metadata.
    """
    import netCDF4
    import xarray as xr

    handle = netCDF4.Dataset("fit-cache-entry.nc", mode="r", memory=raw)
    try:
        groups = {name: _detached(xr.open_dataset(xr.backends.NetCDF4DataStore(handle, group=name)))
                  for name in handle.groups}
        attrs = {key: handle.getncattr(key) for key in handle.ncattrs()}
    finally:
        handle.close()
    return az.InferenceData(attrs=attrs, **groups) if attrs else az.InferenceData(**groups)


def _detached(dataset: Any) -> Any:
    """``dataset`` loaded into memory and cut loose from the file it was read from.

    Why: a loaded Dataset still keeps its store's ``close``; the handle is
    closed as soon as it is read, and ArviZ's ``to_netcdf`` closes every
    group after writing it, which then failed with "NetCDF: Not a valid ID":
    a user could not save a fit that came through the cache.
    """
    dataset = dataset.load()
    dataset.set_close(None)
    return dataset


def _parse_created(text: Any) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


# --------------------------------------------------------------------------- the cache


class FitCache:
    """Fits stored by key under ``root`` (default :func:`seu_sensitivity.settings.cache_dir`).

    >>> import tempfile
    >>> cache = FitCache(tempfile.mkdtemp())
    >>> cache.entries()
    []

    ``lock_timeout`` (seconds, default wait forever) bounds how long
    :meth:`get_or_create` and :meth:`store` wait for another process that is
    fitting the same key; waiting is the right default, since the other
    process is producing exactly the fit we need.
    """

    def __init__(self, root: str | Path | None = None, *, lock_timeout: float = -1) -> None:
        self.root = Path(root) if root is not None else cache_dir()
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"FitCache({str(self.root)!r})"

    # ----------------------------------------------------------------- keys and paths

    @staticmethod
    def make_key(**parts: Any) -> str:
        """SHA-256 (hex) of the canonical JSON of ``parts`` (:func:`content_hash`).

        Give every input that determines the fit, by name: Stan source, data,
        sampler settings, seed, backend and its version. Order of keyword
        arguments and of dict keys does not matter; values do, exactly.

        >>> k = FitCache.make_key(data={"N": 2, "y": [0.5, 1.5]}, seed=1)
        >>> k == FitCache.make_key(seed=1, data={"y": [0.5, 1.5], "N": 2})
        True
        >>> k == FitCache.make_key(data={"N": 2, "y": [0.5, 1.5]}, seed=2)
        False
        >>> len(k)
        64
        >>> FitCache.make_key(model=object())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: make_key: part 'model' has type builtins.object, ...
        """
        return content_hash(**parts)

    @staticmethod
    def _check_key(key: str) -> str:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"not a cache key (expected lowercase hex, as make_key gives): {key!r}")
        return key

    def folder(self, key: str) -> Path:
        """The shard folder of ``key``."""
        return self.root / self._check_key(key)[:2]

    def path(self, key: str) -> Path:
        """The .nc file of ``key`` (whether or not it exists)."""
        return self.folder(key) / f"{key}.nc"

    def sidecar_path(self, key: str) -> Path:
        """The sidecar (.json, the commit marker) of ``key``."""
        return self.folder(key) / f"{key}.json"

    def lock_path(self, key: str) -> Path:
        return self.folder(key) / f"{key}.lock"

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a committed entry (sidecar present; not verified)."""
        return isinstance(key, str) and bool(_KEY_RE.match(key)) and self.sidecar_path(key).is_file()

    # ----------------------------------------------------------------- locking

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the per-key inter-process lock (re-entrant within a process).

        Why ``is_singleton``: every FileLock for the same path in this process
        is then the same object, so a nested acquire (``get_or_create`` →
        ``load`` → removal of a corrupt entry, or two FitCache objects on one
        root) counts up instead of dead-locking against itself.
        """
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        file_lock = FileLock(self.lock_path(key), is_singleton=True)
        with file_lock.acquire(timeout=self.lock_timeout if timeout is None else timeout):
            yield

    # ----------------------------------------------------------------- checking

    def _check(self, key: str) -> az.InferenceData:
        """Load and fully validate an entry; raise FileNotFoundError on a clean
        miss and _Corrupt(reason) on anything else."""
        nc, side = self.path(key), self.sidecar_path(key)
        try:
            side_text = side.read_text(encoding="utf-8")
        except FileNotFoundError:
            if nc.exists():
                raise _Corrupt("incomplete entry: netCDF file without sidecar (commit marker)") from None
            raise
        except (OSError, UnicodeDecodeError) as err:
            raise _Corrupt(f"sidecar cannot be read: {err}") from None
        try:
            sidecar = json.loads(side_text)
        except json.JSONDecodeError as err:
            raise _Corrupt(f"sidecar is not valid JSON: {err}") from None
        if not isinstance(sidecar, dict) or not {"key", "sha256", "size", "groups"} <= sidecar.keys():
            raise _Corrupt("sidecar lacks required fields (key, sha256, size, groups)")
        if sidecar["key"] != key:
            raise _Corrupt(f"sidecar names key {sidecar['key']!r}")
        try:
            raw = nc.read_bytes()
        except FileNotFoundError:
            raise _Corrupt("netCDF file is missing") from None
        except OSError as err:
            raise _Corrupt(f"netCDF file cannot be read: {err}") from None
        if len(raw) != sidecar["size"]:
            raise _Corrupt(f"truncated or extended: {len(raw)} bytes, sidecar says {sidecar['size']}")
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sidecar["sha256"]:
            raise _Corrupt(f"checksum mismatch: SHA-256 {digest[:16]}..., sidecar says {str(sidecar['sha256'])[:16]}...")
        try:
            idata = _read_idata(raw)
        except Exception as err:  # h5py/netCDF raise a zoo of types on bad files
            raise _Corrupt(f"netCDF cannot be opened: {type(err).__name__}: {err}") from None
        if list(idata.groups()) != list(sidecar["groups"]):
            raise _Corrupt(f"groups {list(idata.groups())} differ from sidecar's {list(sidecar['groups'])}")
        return idata

    def _remove_files(self, key: str) -> bool:
        """Delete an entry's files (caller holds the lock). Sidecar first, so a
        crash halfway leaves an *uncommitted* entry, never a committed one
        pointing at nothing. Stale temporary files of the key go too: under the
        lock no live writer can own them."""
        folder = self.folder(key)
        removed = False
        for path in (self.sidecar_path(key), self.path(key), *folder.glob(f".{key}.*.tmp")):
            try:
                path.unlink()
                removed = True
            except FileNotFoundError:
                pass
        return removed

    # ----------------------------------------------------------------- the interface

    def load(self, key: str) -> az.InferenceData | None:
        """The cached InferenceData of ``key``, fully in memory; ``None`` on a miss.

        A corrupt, truncated or incomplete entry is reported (a
        :class:`CorruptCacheEntryWarning` and a log record), removed, and
        ``None`` returned so the caller refits.

        Why the re-check under the lock: a writer replaces an entry in two
        renames (.nc, then sidecar), so an unlocked reader can catch it in
        between. Only a verdict reached while holding the key's lock (no writer
        active) is trusted enough to delete anything; if the writer finished
        meanwhile, the reader simply gets its fresh entry.
        """
        self._check_key(key)
        try:
            return self._check(key)
        except FileNotFoundError:
            return None
        except _Corrupt:
            pass
        with self.lock(key):
            try:
                return self._check(key)
            except FileNotFoundError:
                return None
            except _Corrupt as err:
                reason = str(err)
                path = self.path(key)
                logger.warning("corrupt fit cache entry %s at %s: %s; removing it", key, path, reason)
                warnings.warn(CorruptCacheEntryWarning(key, path, reason), stacklevel=2)
                self._remove_files(key)
                return None

    def store(self, key: str, idata: az.InferenceData, meta: Mapping[str, Any]) -> Path:
        """Write ``idata`` (with ``meta``) as the entry of ``key``, atomically; return the .nc path.

        Steps, and why: write the .nc to a temporary file *in the same folder*
        (so the rename is atomic, same filesystem), fsync it, hash it; write the
        sidecar the same way; then remove the old sidecar (un-commit), rename
        the .nc into place, rename the sidecar into place (commit), fsync the
        folder. A failure at any step removes the temporary files, so no
        half-written file ever sits under a final name, and a crash between the
        renames leaves an entry without a commit marker, which loading rejects.
        """
        self._check_key(key)
        if not isinstance(idata, az.InferenceData):
            raise TypeError(f"store: expected arviz.InferenceData, got {type(idata).__name__}")
        meta_json = _jsonable_meta(dict(meta))
        with self.lock(key):
            folder = self.folder(key)
            temporaries: list[Path] = []
            try:
                nc_tmp = self._temporary(folder, key, "nc")
                temporaries.append(nc_tmp)
                idata.to_netcdf(str(nc_tmp), engine=_ENGINE)
                with open(nc_tmp, "rb") as handle:
                    raw = handle.read()
                    os.fsync(handle.fileno())
                sidecar = {
                    "format": FORMAT_VERSION,
                    "key": key,
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "size": len(raw),
                    "groups": list(idata.groups()),
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                    "arviz_version": az.__version__,
                    "meta": meta_json,
                }
                json_tmp = _write_synced_temporary(
                    folder, f".{key}.json.", json.dumps(sidecar, indent=2, sort_keys=True).encode("utf-8"))
                temporaries.append(json_tmp)
                with contextlib.suppress(FileNotFoundError):
                    self.sidecar_path(key).unlink()
                os.replace(nc_tmp, self.path(key))
                os.replace(json_tmp, self.sidecar_path(key))
                temporaries.clear()
                _fsync_dir(folder)
            finally:
                for tmp in temporaries:
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
        logger.info("stored fit cache entry %s (%d bytes)", key, len(raw))
        return self.path(key)

    @staticmethod
    def _temporary(folder: Path, key: str, kind: str) -> Path:
        # Hidden, unique, and matched by _remove_files' ".{key}.*.tmp" sweep.
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{key}.{kind}.", suffix=".tmp")
        os.close(fd)
        return Path(name)

    def get_or_create(
        self,
        key: str,
        create: Callable[[], az.InferenceData],
        meta: Mapping[str, Any],
    ) -> tuple[az.InferenceData, bool]:
        """``(idata, hit)``: the cached fit, or ``create()``'s result, stored.

        Runs under the key's lock, so when several processes ask for the same
        key at once ``create`` runs once; the others wait and then load it.
        On a miss the stored entry is read back and returned, so the first
        render and every later one see the same object (netCDF round-trips
        change some types, e.g. bool attributes). If storing fails with an
        OS error (disk full...) the fresh fit is returned anyway, with a
        :class:`CacheWriteWarning`: a cache problem must not throw away a fit.

        >>> import numpy as np, arviz as az, tempfile
        >>> cache = FitCache(tempfile.mkdtemp())
        >>> make = lambda: az.from_dict(posterior={"mu": np.ones((1, 3))})
        >>> cache.get_or_create("ab12", make, {"model": "demo"})[1]
        False
        """
        self._check_key(key)
        _jsonable_meta(dict(meta))  # fail on bad meta before an expensive fit
        with self.lock(key):
            cached = self.load(key)
            if cached is not None:
                return cached, True
            idata = create()
            if not isinstance(idata, az.InferenceData):
                raise TypeError(f"create() returned {type(idata).__name__}, expected arviz.InferenceData")
            try:
                self.store(key, idata, meta)
            except OSError as err:
                logger.warning("could not store fit cache entry %s: %s", key, err)
                warnings.warn(CacheWriteWarning(f"could not store fit cache entry {key}: {err}"), stacklevel=2)
                return idata, False
            try:
                return self._check(key), False
            except (_Corrupt, FileNotFoundError):  # pragma: no cover - just written under our lock
                return idata, False

    def _keys(self) -> list[str]:
        """Every key with an .nc or a sidecar on disk (committed or not)."""
        if not self.root.is_dir():
            return []
        keys: set[str] = set()
        for folder in self.root.iterdir():
            if not (folder.is_dir() and len(folder.name) == 2):
                continue
            for path in folder.iterdir():
                if path.suffix in (".nc", ".json") and _KEY_RE.match(path.stem) and path.stem[:2] == folder.name:
                    keys.add(path.stem)
        return sorted(keys)

    def entries(self) -> list[CacheEntry]:
        """Every entry on disk, oldest first (entries with a broken sidecar last).

        Not verified (that reads every byte; see :meth:`verify`).
        """
        result = []
        for key in self._keys():
            nc = self.path(key)
            try:
                size = nc.stat().st_size
            except OSError:
                size = 0
            created, meta = None, {}
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sidecar = json.loads(self.sidecar_path(key).read_text(encoding="utf-8"))
                created = _parse_created(sidecar.get("created"))
                meta = dict(sidecar.get("meta") or {})
            result.append(CacheEntry(key=key, path=nc, size=size, created=created, meta=meta))
        epoch = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
        result.sort(key=lambda e: (e.created is None, e.created or epoch, e.key))
        return result

    def verify(self, key: str | None = None) -> list[VerifyResult]:
        """Check every entry (or only ``key``) without changing anything.

        An entry that fails unlocked is re-checked under its lock (see
        :meth:`load`); if another process holds that lock right now the entry
        is reported ``"busy"`` rather than waited for, so ``seu cache verify``
        never hangs behind a running fit.

        >>> import tempfile
        >>> FitCache(tempfile.mkdtemp()).verify("ab12")[0].status
        'missing'
        """
        keys = [self._check_key(key)] if key is not None else self._keys()
        results = []
        for k in keys:
            results.append(self._verify_one(k))
        return results

    def _verify_one(self, key: str) -> VerifyResult:
        path = self.path(key)
        try:
            self._check(key)
            return VerifyResult(key, path, "ok")
        except FileNotFoundError:
            return VerifyResult(key, path, "missing", "no such entry")
        except _Corrupt:
            pass
        from filelock import Timeout

        try:
            with self.lock(key, timeout=0):
                try:
                    self._check(key)
                    return VerifyResult(key, path, "ok")
                except FileNotFoundError:
                    return VerifyResult(key, path, "missing", "no such entry")
                except _Corrupt as err:
                    return VerifyResult(key, path, "corrupt", str(err))
        except Timeout:
            return VerifyResult(key, path, "busy", "locked by another process (being written)")

    def clear(self, keys: Iterable[str] | None = None) -> int:
        """Remove the given entries (all by default); return how many existed.

        Each removal holds the key's lock, so it never tears an entry that
        another process is writing (it waits for that write instead). The lock
        file is removed too, while held: filelock re-checks after acquiring
        that its file still has a name, so waiters then move to a new file.
        """
        targets = self._keys() if keys is None else [self._check_key(k) for k in keys]
        count = 0
        for key in dict.fromkeys(targets):  # de-duplicate, keep order
            if not self.folder(key).is_dir():
                continue
            with self.lock(key):
                removed = self._remove_files(key)
                with contextlib.suppress(FileNotFoundError):
                    self.lock_path(key).unlink()
            count += removed
        return count
