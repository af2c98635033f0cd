"""Sampling backends behind one interface: CmdStanPy when CmdStan is installed, else PyStan 3.

Which one runs is one setting, ``$SEU_BACKEND`` (``auto``, ``cmdstanpy`` or
``pystan``; see :func:`seu_sensitivity.settings.backend_setting`), unless a
caller names one.

>>> from seu_sensitivity.inference.backends import get_backend
>>> backend = get_backend()         # doctest: +SKIP
>>> backend.name                    # doctest: +SKIP
'cmdstanpy'
"""

from __future__ import annotations

from seu_sensitivity.inference.backends.base import Backend, BackendUnavailable, SampleResult, StanDataError
from seu_sensitivity.inference.backends.base import StanProgram, StanProgramError
from seu_sensitivity.settings import BACKEND_CHOICES, backend_setting

__all__ = ["Backend", "BackendUnavailable", "SampleResult", "StanDataError", "StanProgram", "StanProgramError",
           "get_backend", "BACKENDS"]

#: backend name -> "module:class", imported only when used
BACKENDS: dict[str, str] = {
    "cmdstanpy": "seu_sensitivity.inference.backends.cmdstanpy:CmdStanPyBackend",
    "pystan": "seu_sensitivity.inference.backends.pystan:PyStanBackend",
}
#: order tried by backend="auto"
AUTO_ORDER = ("cmdstanpy", "pystan")

_instances: dict[str, Backend] = {}


def _backend_class(name: str) -> type[Backend]:
    import importlib

    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_backend(name: str | None = None) -> Backend:
    """The backend called ``name``: ``"auto"``, ``"cmdstanpy"`` or ``"pystan"``.

    ``None`` (the default) means the ``$SEU_BACKEND`` setting, itself
    ``"auto"`` unless set. ``"auto"`` picks CmdStanPy when a CmdStan
    installation is found, else PyStan. A backend that cannot run raises
    :class:`BackendUnavailable` saying how to install it.
    """
    if name is None:
        name = backend_setting()
    if name == "auto":
        for candidate in AUTO_ORDER:
            if _backend_class(candidate).available():
                return get_backend(candidate)
        hints = "; ".join(_backend_class(c).install_hint for c in AUTO_ORDER)
        raise BackendUnavailable(f"no Stan backend is available. {hints}")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose {', '.join(map(repr, BACKEND_CHOICES))}")
    if name not in _instances:
        cls = _backend_class(name)
        if not cls.available():
            raise BackendUnavailable(f"backend {name!r} is not available here. {cls.install_hint}")
        _instances[name] = cls()
    return _instances[name]
