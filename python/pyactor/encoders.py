"""The encoder registry for by-value types (design.md, "Values").

A registered type crosses the worker boundary *by value*, as a pair
``(tag, payload)``: ``encode(obj)`` gives the pair, ``decode(tag, payload)``
rebuilds the object. The payload must be something the codec carries: None,
bool, int, float, str, bytes, list, tuple, dict, ``Atom`` or another
registered type. Objects with no encoder stay in their worker and cross as
object references instead.

Built-in encoders (tags and payload shapes are relied on by the C++ and
Erlang sides; see ``pyactor._builtin_encoders``) are installed on first use
of this module's functions, not at import: their modules (datetime,
decimal) would cost every worker's start time.

Lookup contract for ``encode``: the exact type of the object first, then the
first registered class along ``type(obj).__mro__``. MRO results (including
"nothing matches") are cached per type; ``register`` and ``unregister`` clear
the cache. Exact instances of the types the codec carries natively (int,
str, tuple, ...) are encoded by the codec itself and never reach the
registry.

The registry is shared by all threads of the process; changes are
serialised by a lock, lookups take no lock on the fast path.
"""


from __future__ import annotations
import _thread

from pyactor.types import Tagged

__all__ = ["register", "unregister", "encode", "decode", "registered"]

_MAX_REPR = 300


class _Entry:
    """One registration: a type, its tag and its two functions."""

    __slots__ = ("type_", "tag", "encode", "decode")

    def __init__(self, type_: type, tag: str, encode: Callable[[Any], Any],
                 decode: Callable[[Any], Any]) -> None:
        self.type_ = type_
        self.tag = tag
        self.encode = encode
        self.decode = decode


_lock = _thread.RLock()
_by_tag: "dict[str, _Entry]" = {}
_by_type: "dict[type, _Entry]" = {}
# type -> _Entry or None (no registered base). Weak keys: classes created at
# run time must not be kept alive by having been encoded once. An empty dict
# until the first entry, which makes it a weakref.WeakKeyDictionary: a
# worker's start does not import weakref for every user.
_mro_cache: "weakref.WeakKeyDictionary[type, Optional[_Entry]]" = {}
_MISS = object()


def _type_name(t: type) -> str:
    """``'datetime.date'`` for ``datetime.date``, ``'int'`` for builtins."""
    if t.__module__ == "builtins":
        return t.__qualname__
    return f"{t.__module__}.{t.__qualname__}"


def _short_repr(x: Any) -> str:
    """``repr(x)``, cut to a readable length for error messages."""
    try:
        text = repr(x)
    except Exception as exc:  # a broken __repr__ must not hide the real error
        text = f"<unrepresentable {_type_name(type(x))}: {exc!r}>"
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return text


def register(type_: type, tag: str, encode: Callable[[Any], Any],
             decode: Callable[[Any], Any], *, replace: bool = False) -> None:
    """Registers ``type_`` to cross by value under ``tag``.

    ``encode(obj) -> payload`` and ``decode(payload) -> obj`` must be
    inverse. ``type_`` also covers its subclasses that have no encoder of
    their own (their instances decode as ``type_``, whatever ``decode``
    returns).

    Raises ``TypeError`` naming the argument when ``type_`` is not a class,
    ``tag`` is not a non-empty str, or ``encode``/``decode`` is not callable.
    Raises ``ValueError`` when ``tag`` or ``type_`` is already registered,
    unless ``replace`` is true, in which case the previous registrations of
    both the tag and the type are dropped.
    """
    if not isinstance(type_, type):
        raise TypeError(f"pyactor.encoders.register: type_ must be a class, got {type_!r}")
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"pyactor.encoders.register: tag must be a non-empty str, got {tag!r}")
    if not callable(encode):
        raise TypeError(f"pyactor.encoders.register: encode must be callable, got {encode!r}")
    if not callable(decode):
        raise TypeError(f"pyactor.encoders.register: decode must be callable, got {decode!r}")
    tag = str(tag)
    _ensure_builtins()
    with _lock:
        _register_locked(type_, tag, encode, decode, replace)


def _register_locked(type_: type, tag: str, encode: Callable[[Any], Any],
                     decode: Callable[[Any], Any], replace: bool) -> None:
    """``register`` after its checks; the caller holds ``_lock``."""
    old_by_tag = _by_tag.get(tag)
    old_by_type = _by_type.get(type_)
    if not replace and (old_by_tag is not None or old_by_type is not None):
        problems = []
        if old_by_tag is not None:
            problems.append(f"tag {tag!r} is already registered for type "
                            f"{_type_name(old_by_tag.type_)}")
        if old_by_type is not None:
            problems.append(f"type {_type_name(type_)} is already registered with tag "
                            f"{old_by_type.tag!r}")
        raise ValueError(f"pyactor.encoders.register({_type_name(type_)}, {tag!r}): "
                         f"{'; '.join(problems)} (pass replace=True to override)")
    for old in (old_by_tag, old_by_type):
        if old is not None:
            _by_tag.pop(old.tag, None)
            _by_type.pop(old.type_, None)
    entry = _Entry(type_, tag, encode, decode)
    _by_tag[tag] = entry
    _by_type[type_] = entry
    _mro_cache.clear()


def unregister(tag: str) -> None:
    """Removes the encoder registered under ``tag``.

    Raises ``KeyError`` naming the tag when nothing is registered under it.
    """
    _ensure_builtins()
    with _lock:
        entry = _by_tag.pop(tag, None)
        if entry is None:
            raise KeyError(f"pyactor.encoders.unregister: no encoder registered for tag {tag!r}")
        _by_type.pop(entry.type_, None)
        _mro_cache.clear()


def _lookup_mro(t: type) -> Optional[_Entry]:
    """Slow path: the first registered class in ``t.__mro__``, cached."""
    global _mro_cache
    with _lock:
        if type(_mro_cache) is dict:
            import weakref
            _mro_cache = weakref.WeakKeyDictionary()
        found = _mro_cache.get(t, _MISS)
        if found is _MISS:
            found = None
            for base in t.__mro__:
                found = _by_type.get(base)
                if found is not None:
                    break
            _mro_cache[t] = found
        return found


def encode(obj: Any) -> Optional[Tuple[str, Any]]:
    """Returns ``(tag, payload)`` for ``obj``, or None when no encoder applies.

    A ``Tagged`` encodes to its own tag and payload, so values of unknown
    tags pass through Python unchanged. If the registered encoder raises,
    ``ValueError`` naming the tag and the type is raised from it.
    """
    t = type(obj)
    entry = _by_type.get(t)
    if entry is None:
        if t is Tagged:
            return (obj.tag, obj.payload)
        entry = _mro_cache.get(t, _MISS)
        if entry is _MISS:
            _ensure_builtins()
            entry = _lookup_mro(t)
        if entry is None:
            return None
    try:
        return (entry.tag, entry.encode(obj))
    except Exception as exc:
        raise ValueError(f"pyactor.encoders: cannot encode {_type_name(t)} object with tag "
                         f"{entry.tag!r}: {exc}") from exc


def decode(tag: str, payload: Any) -> Any:
    """Rebuilds the object for ``(tag, payload)``.

    An unknown tag gives ``Tagged(tag, payload)``, unchanged. If the decoder
    raises, ``ValueError`` naming the tag and the payload is raised from it,
    e.g. ``cannot decode tag 'date' from payload (1923, 13, 2): month must
    be in 1..12``.
    """
    entry = _by_tag.get(tag)
    if entry is None and not _builtins_installed:
        _ensure_builtins()
        entry = _by_tag.get(tag)
    if entry is None:
        return Tagged(tag, payload)
    try:
        return entry.decode(payload)
    except Exception as exc:
        raise ValueError(f"pyactor.encoders: cannot decode tag {tag!r} from payload "
                         f"{_short_repr(payload)}: {exc}") from exc


def registered() -> "dict[str, type]":
    """A snapshot ``{tag: type}`` of the current registrations."""
    _ensure_builtins()
    with _lock:
        return {tag: entry.type_ for tag, entry in _by_tag.items()}


_builtins_installed = False


def _ensure_builtins() -> None:
    """Installs the built-in encoders once, before anything reads or changes
    the registry. Encoding a type registered only by the built-ins can not be
    missed: an object of it reaches ``encode``'s slow path, which installs
    them first."""
    global _builtins_installed
    if _builtins_installed:
        return
    with _lock:
        if _builtins_installed:
            return
        from pyactor import _builtin_encoders
        for type_, tag, enc, dec in _builtin_encoders.ENCODERS:
            _register_locked(type_, tag, enc, dec, replace=False)
        _builtins_installed = True
