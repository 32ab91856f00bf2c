"""Helpers the C++ worker (``pyactor-worker``) calls into.

Each function is small and has no side effect beyond what its docstring
states. Exceptions they raise are reported to the caller like any other
Python exception (via ``describe_exception``).
"""


from __future__ import annotations
import os
import sys

from pyactor import __version__

__all__ = ["describe_exception", "versions", "resolve", "cast", "protect_sigint",
           "restore_sigint"]


def describe_exception(exc: BaseException) -> Tuple[str, str, str]:
    """``(type_name, message, traceback)`` for an exception.

    ``type_name`` is the bare qualified name for builtins
    (``'ZeroDivisionError'``) and ``'module.QualName'`` otherwise
    (``'json.decoder.JSONDecodeError'``). ``message`` is ``str(exc)`` (for a
    ``KeyError`` that is the repr of the key). ``traceback`` is the full
    formatted traceback, chained causes included, ending with the
    ``Type: message`` line.
    """
    t = type(exc)
    module = t.__module__
    type_name = t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"
    try:
        message = str(exc)
    except Exception as inner:  # a broken __str__ must not lose the error
        message = f"<str() failed: {inner!r}>"
    import traceback  # only on the error path: it costs 2 ms to import

    return (type_name, message, "".join(traceback.format_exception(exc)))


def versions(worker_id: Any, worker_uid: Any) -> Dict[str, Any]:
    """The map a worker reports in its ready frame and for ``versions``.

    Keys: ``python`` (first line of ``sys.version``), ``python_version``
    (e.g. ``'3.11.2'``), ``pyactor``, ``executable``, ``pid``,
    ``worker_id`` and ``worker_uid`` (as given), ``platform``.
    """
    uname = os.uname()
    return {
        "python": sys.version.splitlines()[0],
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "pyactor": __version__,
        "executable": sys.executable,
        "pid": os.getpid(),
        "worker_id": worker_id,
        "worker_uid": worker_uid,
        "platform": "%s-%s-%s" % (uname.sysname, uname.release, uname.machine),
    }


def resolve(module_name: str, dotted_name: str) -> Any:
    """Imports ``module_name`` and follows ``dotted_name`` from it.

    ``resolve('os', 'path.isfile')`` is ``os.path.isfile``; an empty
    ``dotted_name`` gives the module itself. A part that is not an attribute
    of a module is tried as its submodule (``resolve('xml', 'etree.ElementTree.
    parse')`` imports ``xml.etree.ElementTree``).

    Raises ``ModuleNotFoundError`` (from the import) for a missing module and
    ``AttributeError`` naming the module and the full dotted path for a
    missing attribute. Errors raised while importing the module propagate.
    """
    import importlib  # not at module level: the worker's start does not need it

    obj = importlib.import_module(module_name)
    if not dotted_name:
        return obj
    for part in dotted_name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            submodule = _submodule(obj, part)
            if submodule is None:
                raise AttributeError(f"{exc} (looking up {module_name}.{dotted_name})",
                                     name=part, obj=obj) from None
            obj = submodule
    return obj


def _submodule(obj: Any, part: str) -> Any:
    """Imports ``part`` as a submodule of the module ``obj``; None if ``obj``
    is not a package or has no such submodule."""
    if not isinstance(obj, type(sys)) or not hasattr(obj, "__path__"):  # type(sys): ModuleType
        return None
    import importlib

    try:
        return importlib.import_module(f"{obj.__name__}.{part}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{obj.__name__}.{part}":
            return None
        raise


_CASTS = {"": None, "int": int, "float": float, "str": str}


def cast(value: Any, how: str) -> Any:
    """Converts ``value`` for the ``constant`` operation.

    ``how`` is ``''`` (``value`` unchanged), ``'int'``, ``'float'`` or
    ``'str'``. Errors of the conversion itself (``int('x')``) propagate;
    any other ``how`` raises ``ValueError`` naming it and the allowed ones.
    """
    if not isinstance(how, str) or how not in _CASTS:
        allowed = ", ".join(repr(k) for k in _CASTS)
        raise ValueError(f"pyactor: unknown cast {how!r} (allowed: {allowed})")
    convert = _CASTS[how]
    return value if convert is None else convert(value)


_SIGINT_WARNING = (
    "pyactor: signal.signal(SIGINT, ...) is ignored in a pyactor worker: SIGINT "
    "interrupts the running call (KeyboardInterrupt) on timeout and cancel; "
    "clean up in `except KeyboardInterrupt` or `finally` instead")


def protect_sigint() -> None:
    """Makes SIGINT pyactor's for the life of the worker.

    Replaces ``_signal.signal``, which ``signal.signal`` calls, with a
    wrapper that, for ``SIGINT``, leaves the handler as it is, warns once
    (``RuntimeWarning``) and returns the current handler, as if the new one
    had been installed and replaced at once; every other signal goes to the
    original. Called once by the worker before any user code runs. It wraps
    the C module so that the worker's start does not import ``signal`` (and
    its ``enum``, ``functools`` and ``collections``) for every user.
    """
    import _signal

    original = _signal.signal
    if getattr(original, "__pyactor_guard__", False):
        return
    warned = []

    def guarded(signalnum, handler):
        if signalnum == _signal.SIGINT:
            if not warned:
                import warnings
                warned.append(True)
                # stacklevel 3: past this wrapper and signal.signal, at the user's line
                warnings.warn(_SIGINT_WARNING, RuntimeWarning, stacklevel=3)
            return _signal.getsignal(_signal.SIGINT)
        return original(signalnum, handler)

    guarded.__pyactor_guard__ = True
    guarded.__doc__ = original.__doc__
    guarded.__wrapped__ = original
    _signal.signal = guarded
    restore_sigint.original = original


def restore_sigint() -> None:
    """Puts Python's own SIGINT handler (``default_int_handler``) back.

    The worker calls this when the process-level handler was changed
    behind ``signal.signal`` (ctypes, a C library) and then reinstalls its
    own C handler on top.
    """
    import _signal

    setter = getattr(restore_sigint, "original", _signal.signal)
    setter(_signal.SIGINT, _signal.default_int_handler)
