"""Sampling backends behind one interface: CmdStanPy when CmdStan is installed, else PyStan 3.

>>> from seu_sensitivity.backends import get_backend
>>> backend = get_backend("auto")   # doctest: +SKIP
>>> backend.name                    # doctest: +SKIP
'pystan'
"""

from __future__ import annotations

from seu_sensitivity.backends.base import Backend, BackendUnavailable, SampleResult, StanProgram

__all__ = ["Backend", "BackendUnavailable", "SampleResult", "StanProgram", "get_backend", "BACKENDS"]

#: backend name -> "module:class", imported only when used
BACKENDS: dict[str, str] = {
    "cmdstanpy": "seu_sensitivity.backends.cmdstanpy:CmdStanPyBackend",
    "pystan": "seu_sensitivity.backends.pystan:PyStanBackend",
}
#: order tried by backend="auto"
AUTO_ORDER = ("cmdstanpy", "pystan")

_instances: dict[str, Backend] = {}


def _backend_class(name: str) -> type[Backend]:
    import importlib

    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_backend(name: str = "auto") -> Backend:
    """The backend called ``name``: ``"auto"``, ``"cmdstanpy"`` or ``"pystan"``.

    ``"auto"`` picks CmdStanPy when a CmdStan installation is found, else
    PyStan. An explicitly requested backend that cannot run raises
    :class:`BackendUnavailable` saying how to install it.
    """
    if name == "auto":
        for candidate in AUTO_ORDER:
            if _backend_class(candidate).available():
                return get_backend(candidate)
        hints = "; ".join(_backend_class(c).install_hint for c in AUTO_ORDER)
        raise BackendUnavailable(f"no Stan backend is available. {hints}")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose 'auto', {', '.join(map(repr, BACKENDS))}")
    if name not in _instances:
        cls = _backend_class(name)
        if not cls.available():
            raise BackendUnavailable(f"backend {name!r} is not available here. {cls.install_hint}")
        _instances[name] = cls()
    return _instances[name]
