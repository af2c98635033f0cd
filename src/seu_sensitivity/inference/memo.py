"""Results computed from large arrays of draws, remembered on disk beside the fit cache.

A warm re-render loads every fit from the fit cache, and would then spend
most of its time recomputing what it computed last time from the very same
draws: rank-normalised R-hat and ESS of thousands of elements, PSIS-LOO of
thousands of observations. :func:`remembered` makes such a function keep its
results in ``<fit cache>/derived`` (``joblib.Memory`` underneath), keyed by
the bytes of its arguments and by the source code of the modules it names,
so a result is reused exactly when the same code would recompute it from the
same numbers, and never otherwise.

Small inputs (under :data:`MIN_ELEMENTS` numbers) are always recomputed:
hashing and a disk round trip would cost more than they save. ``SEU_MEMO=0``
turns remembering off. ``seu cache clear`` removes the remembered results
along with the fits.

>>> import numpy as np
>>> @remembered(__name__)
... def total(x):
...     return float(np.sum(x))
>>> total(np.ones(3))
3.0
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from seu_sensitivity.settings import MEMO_ENV, cache_dir, memo_enabled

__all__ = ["remembered", "location", "MIN_ELEMENTS", "MEMO_ENV"]

#: inputs with fewer numbers than this are recomputed, not remembered
MIN_ELEMENTS = 1_000_000


F = TypeVar("F", bound=Callable[..., Any])


def location() -> Path:
    """Where remembered results live: ``<fit cache>/derived`` (follows ``$SEU_CACHE_DIR``)."""
    return cache_dir() / "derived"


@functools.lru_cache(maxsize=None)
def _fingerprint(modules: tuple[str, ...]) -> str:
    """Hash of the modules' source and of the numerical libraries' versions: what the results depend on."""
    digest = hashlib.sha256()
    for name in modules:
        module = sys.modules.get(name) or importlib.import_module(name)
        digest.update(name.encode())
        digest.update(inspect.getsource(module).encode())
    import scipy

    digest.update(f"numpy {np.__version__} scipy {scipy.__version__}".encode())
    return digest.hexdigest()[:16]


def _size(value: Any) -> int:
    return int(value.size) if isinstance(value, np.ndarray) else 0


def remembered(*modules: str) -> Callable[[F], F]:
    """Decorator: keep the function's results on disk, keyed by its arguments and ``modules``' source.

    ``modules`` names the modules whose code the result depends on (the
    function's own module at least). The function must be pure: its result a
    function of its arguments alone, which must be NumPy arrays and plain
    values. Calls whose arrays hold fewer than :data:`MIN_ELEMENTS` numbers in
    all are not remembered.
    """
    if not modules:
        raise TypeError("remembered: name at least the module the function lives in")

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            size = sum(_size(v) for v in (*args, *kwargs.values()))
            if size < MIN_ELEMENTS or not memo_enabled():
                return func(*args, **kwargs)
            import joblib

            # A new folder per code version: results of older code are never read back.
            folder = location() / _fingerprint(tuple(modules))
            memory = joblib.Memory(folder, verbose=0)
            return memory.cache(func)(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
