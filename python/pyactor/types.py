"""Value types that cross the worker boundary without a plain Python twin.

- ``Atom``: an Erlang atom. A ``str`` subclass: compares and hashes like the
  equal ``str``, but ``type(x) is Atom`` tells the codec to send an atom.
- ``Tagged``: a by-value type whose tag no registered encoder knows. It is
  carried through Python untouched and encodes back to the same tag and
  payload.
- ``Opaque``: a foreign value (an Erlang pid, ref or fun) that Python cannot
  interpret; it comes back out exactly as it went in.

``Tagged`` and ``Opaque`` are immutable: assigning or deleting an attribute
raises ``AttributeError``.
"""

__all__ = ["Atom", "Tagged", "Opaque"]


class Atom(str):
    """An Erlang atom, e.g. ``Atom('ok')``.

    Equality and hashing are those of ``str`` (``Atom('ok') == 'ok'``), so an
    atom can be used wherever its name is expected; only the exact type
    distinguishes it.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({str.__repr__(self)})"


class _Frozen:
    """Mixin: instances are immutable once ``__init__`` has run."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable (cannot set {name!r})")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable (cannot delete {name!r})")


class Tagged(_Frozen):
    """A tagged value ``(tag, payload)`` whose tag has no registered decoder.

    ``tag`` is a ``str``; ``payload`` is any value the codec carries. Two
    ``Tagged`` are equal when both tag and payload are equal. Hashing works
    when the payload is hashable (else ``TypeError``, as for a tuple).
    ``pyactor.encoders.encode`` maps a ``Tagged`` back to ``(tag, payload)``.
    """

    __slots__ = ("tag", "payload")

    def __init__(self, tag: str, payload):
        if not isinstance(tag, str):
            raise TypeError(f"Tagged: tag must be a str, got {tag!r}")
        object.__setattr__(self, "tag", str(tag))
        object.__setattr__(self, "payload", payload)

    def __eq__(self, other):
        if type(other) is not Tagged:
            return NotImplemented
        return self.tag == other.tag and self.payload == other.payload

    def __hash__(self):
        return hash((Tagged, self.tag, self.payload))

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {self.payload!r})"

    def __reduce__(self):
        return (Tagged, (self.tag, self.payload))


class Opaque(_Frozen):
    """A foreign value: ``kind`` (e.g. ``'pid'``) and its encoding ``data``.

    ``data`` accepts any bytes-like object and is stored as ``bytes``. Two
    ``Opaque`` are equal when kind and data are equal; always hashable.
    """

    __slots__ = ("kind", "data")

    def __init__(self, kind: str, data: bytes):
        if not isinstance(kind, str):
            raise TypeError(f"Opaque: kind must be a str, got {kind!r}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Opaque: data must be bytes, got {data!r}")
        object.__setattr__(self, "kind", str(kind))
        object.__setattr__(self, "data", bytes(data))

    def __eq__(self, other):
        if type(other) is not Opaque:
            return NotImplemented
        return self.kind == other.kind and self.data == other.data

    def __hash__(self):
        return hash((Opaque, self.kind, self.data))

    def __repr__(self) -> str:
        return f"Opaque({self.kind!r}, {self.data!r})"

    def __reduce__(self):
        return (Opaque, (self.kind, self.data))
