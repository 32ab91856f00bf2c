"""Built-in by-value encoders, installed by ``pyactor.encoders`` at import.

Tags and payload shapes are a contract with the C++ and Erlang sides:

=====================  ============  ==========================================
type                   tag           payload
=====================  ============  ==========================================
datetime.datetime      "datetime"    (year, month, day, hour, minute, second,
                                     microsecond, tz)
datetime.date          "date"        (year, month, day)
datetime.time          "time"        (hour, minute, second, microsecond, tz)
datetime.timedelta     "timedelta"   (days, seconds, microseconds)
decimal.Decimal        "decimal"     str(d)
set                    "set"         list of the elements
frozenset              "frozenset"   list of the elements
complex                "complex"     (real, imag)
=====================  ============  ==========================================

``tz`` is None for a naive value, else the UTC offset in seconds: an int, or
a float when the offset has microseconds. It decodes to a fixed-offset
``datetime.timezone``, so a zone's name and rules (e.g. ``ZoneInfo``) are not
kept, only the offset in force; the instant is preserved. ``fold`` is not
carried. A ``time`` whose tzinfo gives no offset for a bare time encodes
as naive.

Decoders accept a list wherever a tuple is expected and raise (``ValueError``
or ``TypeError``; ``pyactor.encoders.decode`` turns either into a
``ValueError`` naming tag and payload) on a wrong shape or element type.
Booleans are not accepted where numbers are expected.
"""


from __future__ import annotations
import datetime as _dt
import decimal as _decimal

__all__ = ["ENCODERS"]


def _fields(payload: Any, names: Sequence[str]) -> Sequence[Any]:
    """Checks ``payload`` is a tuple or list with one item per name."""
    if not isinstance(payload, (tuple, list)):
        raise ValueError(f"expected a tuple of {len(names)} ({', '.join(names)}), "
                         f"got {type(payload).__name__}")
    if len(payload) != len(names):
        raise ValueError(f"expected {len(names)} items ({', '.join(names)}), "
                         f"got {len(payload)}")
    return payload


def _r(value: Any) -> str:
    """A short repr of a payload item for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any, name: str) -> int:
    """``value`` if it is an int (not a bool), else ``ValueError``."""
    if type(value) is bool or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {_r(value)}")
    return value


def _number(value: Any, name: str) -> Union[int, float]:
    """``value`` if it is an int or float (not a bool), else ``ValueError``."""
    if type(value) is bool or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be an int or a float, got {_r(value)}")
    return value


def _offset_to_tz(offset: Optional[_dt.timedelta]) -> Union[None, int, float]:
    """A UTC offset as the payload's ``tz`` item."""
    if offset is None:
        return None
    if offset.microseconds:
        return offset.total_seconds()
    return offset.days * 86400 + offset.seconds


def _tz_to_tzinfo(tz: Any) -> Optional[_dt.timezone]:
    """The payload's ``tz`` item as a tzinfo (None stays None)."""
    if tz is None:
        return None
    return _dt.timezone(_dt.timedelta(seconds=_number(tz, "tz")))


# -- datetime ----------------------------------------------------------------

_DATETIME_FIELDS = ("year", "month", "day", "hour", "minute", "second", "microsecond", "tz")


def encode_datetime(d: _dt.datetime) -> tuple:
    return (d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond,
            _offset_to_tz(d.utcoffset()))


def decode_datetime(payload: Any) -> _dt.datetime:
    items = _fields(payload, _DATETIME_FIELDS)
    ints = [_int(v, n) for v, n in zip(items[:7], _DATETIME_FIELDS)]
    return _dt.datetime(*ints, tzinfo=_tz_to_tzinfo(items[7]))


# -- date --------------------------------------------------------------------

_DATE_FIELDS = ("year", "month", "day")


def encode_date(d: _dt.date) -> tuple:
    return (d.year, d.month, d.day)


def decode_date(payload: Any) -> _dt.date:
    items = _fields(payload, _DATE_FIELDS)
    return _dt.date(*[_int(v, n) for v, n in zip(items, _DATE_FIELDS)])


# -- time --------------------------------------------------------------------

_TIME_FIELDS = ("hour", "minute", "second", "microsecond", "tz")


def encode_time(t: _dt.time) -> tuple:
    return (t.hour, t.minute, t.second, t.microsecond, _offset_to_tz(t.utcoffset()))


def decode_time(payload: Any) -> _dt.time:
    items = _fields(payload, _TIME_FIELDS)
    ints = [_int(v, n) for v, n in zip(items[:4], _TIME_FIELDS)]
    return _dt.time(*ints, tzinfo=_tz_to_tzinfo(items[4]))


# -- timedelta ---------------------------------------------------------------

_TIMEDELTA_FIELDS = ("days", "seconds", "microseconds")


def encode_timedelta(d: _dt.timedelta) -> tuple:
    return (d.days, d.seconds, d.microseconds)


def decode_timedelta(payload: Any) -> _dt.timedelta:
    days, seconds, microseconds = [
        _int(v, n) for v, n in zip(_fields(payload, _TIMEDELTA_FIELDS), _TIMEDELTA_FIELDS)]
    return _dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


# -- decimal -----------------------------------------------------------------

def encode_decimal(d: _decimal.Decimal) -> str:
    return str(d)


def decode_decimal(payload: Any) -> _decimal.Decimal:
    if not isinstance(payload, str):
        raise ValueError(f"expected a str, got {type(payload).__name__}")
    try:
        return _decimal.Decimal(payload)
    except _decimal.InvalidOperation:
        raise ValueError("not a decimal number") from None


# -- set, frozenset ----------------------------------------------------------

def encode_set(s: set) -> list:
    return list(s)


def _elements(payload: Any) -> Sequence[Any]:
    if not isinstance(payload, (list, tuple)):
        raise ValueError(f"expected a list of elements, got {type(payload).__name__}")
    return payload


def decode_set(payload: Any) -> set:
    return set(_elements(payload))


def encode_frozenset(s: frozenset) -> list:
    return list(s)


def decode_frozenset(payload: Any) -> frozenset:
    return frozenset(_elements(payload))


# -- complex -----------------------------------------------------------------

def encode_complex(c: complex) -> tuple:
    return (c.real, c.imag)


def decode_complex(payload: Any) -> complex:
    real, imag = _fields(payload, ("real", "imag"))
    return complex(_number(real, "real"), _number(imag, "imag"))


#: (type, tag, encode, decode) for every built-in encoder, in install order.
ENCODERS = (
    (_dt.datetime, "datetime", encode_datetime, decode_datetime),
    (_dt.date, "date", encode_date, decode_date),
    (_dt.time, "time", encode_time, decode_time),
    (_dt.timedelta, "timedelta", encode_timedelta, decode_timedelta),
    (_decimal.Decimal, "decimal", encode_decimal, decode_decimal),
    (set, "set", encode_set, decode_set),
    (frozenset, "frozenset", encode_frozenset, decode_frozenset),
    (complex, "complex", encode_complex, decode_complex),
)
