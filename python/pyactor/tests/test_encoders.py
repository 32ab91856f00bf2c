"""Tests for pyactor.encoders and the built-in encoders."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from pyactor import Atom, Tagged, encoders

UTC = dt.timezone.utc


def roundtrip(obj):
    """Encodes then decodes ``obj``; checks the result's type and equality."""
    pair = encoders.encode(obj)
    assert pair is not None, f"no encoder for {obj!r}"
    tag, payload = pair
    back = encoders.decode(tag, payload)
    assert type(back) is type(obj)
    return back


# -- built-in registrations --------------------------------------------------

def test_builtin_registrations():
    assert encoders.registered() == {
        "datetime": dt.datetime,
        "date": dt.date,
        "time": dt.time,
        "timedelta": dt.timedelta,
        "decimal": Decimal,
        "set": set,
        "frozenset": frozenset,
        "complex": complex,
    }


def test_registered_is_a_snapshot(registry):
    snap = registry.registered()
    snap["date"] = int
    del snap["set"]
    assert registry.registered()["date"] is dt.date
    assert "set" in registry.registered()


# -- payload shapes (a contract with C++ and Erlang) -------------------------

@pytest.mark.parametrize("obj, expected", [
    (dt.datetime(2024, 2, 29, 13, 14, 15, 16), ("datetime", (2024, 2, 29, 13, 14, 15, 16, None))),
    (dt.datetime(2024, 2, 29, 13, 14, 15, tzinfo=UTC), ("datetime", (2024, 2, 29, 13, 14, 15, 0, 0))),
    (dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
     ("datetime", (1, 1, 1, 0, 0, 0, 0, 19800))),
    (dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
     ("datetime", (9999, 12, 31, 23, 59, 59, 999999, -18000))),
    (dt.date(1923, 4, 2), ("date", (1923, 4, 2))),
    (dt.time(1, 2, 3, 4), ("time", (1, 2, 3, 4, None))),
    (dt.time(23, 59, tzinfo=dt.timezone(dt.timedelta(minutes=-90))), ("time", (23, 59, 0, 0, -5400))),
    (dt.timedelta(days=3, seconds=4, microseconds=5), ("timedelta", (3, 4, 5))),
    (dt.timedelta(microseconds=-1), ("timedelta", (-1, 86399, 999999))),
    (Decimal("1.10"), ("decimal", "1.10")),
    (Decimal("-0"), ("decimal", "-0")),
    (Decimal("NaN"), ("decimal", "NaN")),
    (Decimal("-Infinity"), ("decimal", "-Infinity")),
    (set(), ("set", [])),
    (frozenset(), ("frozenset", [])),
    (complex(1.5, -2), ("complex", (1.5, -2.0))),
])
def test_payload_shapes(obj, expected):
    tag, payload = encoders.encode(obj)
    assert (tag, payload) == expected
    assert type(payload) is type(expected[1])
    if isinstance(payload, tuple):
        assert [type(x) for x in payload] == [type(x) for x in expected[1]]


def test_set_payload_is_list_of_elements():
    tag, payload = encoders.encode({1, "a", (2, 3)})
    assert tag == "set" and type(payload) is list
    assert sorted(map(repr, payload)) == sorted(map(repr, [1, "a", (2, 3)]))
    tag, payload = encoders.encode(frozenset({4}))
    assert (tag, payload) == ("frozenset", [4])


def test_tz_with_microseconds_is_a_float():
    tz = dt.timezone(dt.timedelta(seconds=3600, microseconds=5))
    _, payload = encoders.encode(dt.datetime(2020, 1, 1, tzinfo=tz))
    assert type(payload[7]) is float
    assert payload[7] == pytest.approx(3600.000005)
    back = encoders.decode("datetime", payload)
    assert back.utcoffset() == dt.timedelta(seconds=3600, microseconds=5)
    _, payload = encoders.encode(dt.time(1, tzinfo=tz))
    assert type(payload[4]) is float


# -- round trips -------------------------------------------------------------

@pytest.mark.parametrize("obj", [
    dt.datetime(2024, 2, 29, 13, 14, 15, 16),
    dt.datetime(2024, 2, 29, 13, 14, 15, 16, tzinfo=UTC),
    dt.datetime(2024, 2, 29, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    dt.datetime(2024, 2, 29, tzinfo=dt.timezone(dt.timedelta(hours=-12))),
    dt.datetime(2024, 2, 29, tzinfo=dt.timezone(dt.timedelta(hours=23, minutes=59, seconds=59,
                                                             microseconds=999999))),
    dt.datetime.min, dt.datetime.max,
    dt.date(1923, 4, 2), dt.date.min, dt.date.max,
    dt.time(), dt.time(23, 59, 59, 999999),
    dt.time(12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
    dt.time(12, 30, tzinfo=UTC),
    dt.timedelta(), dt.timedelta(days=-5, seconds=3, microseconds=7), dt.timedelta(microseconds=-1),
    dt.timedelta.min, dt.timedelta.max,
    Decimal("0"), Decimal("1.10"), Decimal("-1E+7"), Decimal("3.141592653589793238462643383279502884"),
    Decimal("Infinity"), Decimal("-Infinity"),
    set(), {1, 2, 3}, {"a", (1, 2), None},
    frozenset(), frozenset({1, frozenset({2})}),
    complex(0, 0), complex(1.5, -2.25), complex(float("inf"), -float("inf")),
], ids=repr)
def test_roundtrip(obj):
    back = roundtrip(obj)
    assert back == obj


@pytest.mark.parametrize("obj", [
    dt.datetime(2024, 7, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.time(8, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
])
def test_roundtrip_keeps_offset(obj):
    back = roundtrip(obj)
    assert back.tzinfo is not None
    assert back.utcoffset() == obj.utcoffset()
    assert (back.hour, back.minute) == (obj.hour, obj.minute)


def test_roundtrip_naive_stays_naive():
    assert roundtrip(dt.datetime(2020, 1, 1)).tzinfo is None
    assert roundtrip(dt.time(1)).tzinfo is None


def test_roundtrip_zoneinfo_keeps_instant_and_offset():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        tz = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone data")
    obj = dt.datetime(2024, 7, 1, 12, tzinfo=tz)
    back = roundtrip(obj)
    assert back == obj
    assert back.utcoffset() == dt.timedelta(hours=2)


def test_roundtrip_decimal_specials():
    nan = roundtrip(Decimal("NaN"))
    assert nan.is_nan() and not nan.is_snan()
    snan = roundtrip(Decimal("-sNaN"))
    assert snan.is_snan() and snan.is_signed()
    zero = roundtrip(Decimal("-0"))
    assert zero == 0 and zero.is_signed()
    exact = roundtrip(Decimal("1.100"))
    assert str(exact) == "1.100"


def test_roundtrip_complex_nan():
    back = roundtrip(complex(float("nan"), -0.0))
    assert math.isnan(back.real)
    assert back.imag == 0 and math.copysign(1, back.imag) == -1


def test_decode_accepts_lists():
    assert encoders.decode("date", [1923, 4, 2]) == dt.date(1923, 4, 2)
    assert encoders.decode("datetime", [2020, 1, 2, 3, 4, 5, 6, 3600]) == \
        dt.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert encoders.decode("time", [1, 2, 3, 4, None]) == dt.time(1, 2, 3, 4)
    assert encoders.decode("timedelta", [1, 2, 3]) == dt.timedelta(1, 2, 3)
    assert encoders.decode("complex", [1, 2]) == complex(1, 2)
    assert encoders.decode("set", (1, 2)) == {1, 2}
    assert encoders.decode("frozenset", (1,)) == frozenset({1})


def test_decode_tz_float_and_int():
    back = encoders.decode("time", (1, 0, 0, 0, -1800.0))
    assert back.utcoffset() == dt.timedelta(minutes=-30)
    back = encoders.decode("datetime", (2020, 1, 1, 0, 0, 0, 0, 0))
    assert back.tzinfo == UTC


# -- lookup rules ------------------------------------------------------------

def test_exact_type_wins_over_base():
    assert encoders.encode(dt.datetime(2020, 1, 1))[0] == "datetime"
    assert encoders.encode(dt.date(2020, 1, 1))[0] == "date"


class MyDate(dt.date):
    pass


class MyDateTime(dt.datetime):
    pass


class MySet(set):
    pass


def test_mro_fallback_for_subclass():
    assert encoders.encode(MyDate(2020, 1, 2)) == ("date", (2020, 1, 2))
    assert encoders.encode(MyDateTime(2020, 1, 2, 3)) == ("datetime", (2020, 1, 2, 3, 0, 0, 0, None))
    assert encoders.encode(MySet([1])) == ("set", [1])
    # Decoding gives the registered type.
    assert type(encoders.decode(*encoders.encode(MyDate(2020, 1, 2)))) is dt.date


def test_unencodable_objects_give_none():
    class Plain:
        pass

    assert encoders.encode(Plain()) is None
    assert encoders.encode(object()) is None
    assert encoders.encode(lambda: 1) is None
    assert encoders.encode(len) is None
    # Natively carried types are the codec's business, not the registry's.
    assert encoders.encode(1) is None
    assert encoders.encode("s") is None
    assert encoders.encode((1, 2)) is None
    assert encoders.encode(Atom("ok")) is None


def test_mro_cache_invalidated_by_register_and_unregister(registry):
    class Sub(dt.date):
        pass

    class Other:
        pass

    assert registry.encode(Sub(2020, 1, 1))[0] == "date"
    assert registry.encode(Other()) is None
    registry.register(Sub, "sub", lambda d: d.toordinal(), Sub.fromordinal)
    registry.register(Other, "other", lambda o: None, lambda p: Other())
    assert registry.encode(Sub(2020, 1, 1)) == ("sub", dt.date(2020, 1, 1).toordinal())
    assert registry.encode(Other()) == ("other", None)
    registry.unregister("sub")
    registry.unregister("other")
    assert registry.encode(Sub(2020, 1, 1))[0] == "date"
    assert registry.encode(Other()) is None


def test_registered_base_covers_subclasses(registry):
    class Base:
        def __init__(self, x):
            self.x = x

    class Child(Base):
        pass

    class GrandChild(Child):
        pass

    registry.register(Base, "base", lambda b: b.x, Base)
    assert registry.encode(GrandChild(5)) == ("base", 5)
    registry.register(Child, "child", lambda c: [c.x], lambda p: Child(p[0]))
    assert registry.encode(GrandChild(5)) == ("child", [5])
    assert registry.encode(Base(1)) == ("base", 1)


# -- unknown tags ------------------------------------------------------------

def test_unknown_tag_gives_tagged_unchanged():
    payload = [1, {"a": (2, 3)}]
    back = encoders.decode("mytag", payload)
    assert back == Tagged("mytag", payload)
    assert back.payload is payload


def test_tagged_encodes_back_to_itself():
    t = Tagged("mytag", (1, 2))
    assert encoders.encode(t) == ("mytag", (1, 2))
    assert encoders.decode(*encoders.encode(t)) == t


def test_tagged_with_known_tag_decodes_to_the_type():
    # A Tagged built before its tag was registered decodes to the real type.
    assert encoders.decode(*encoders.encode(Tagged("date", (2020, 1, 2)))) == dt.date(2020, 1, 2)


# -- register / unregister ---------------------------------------------------

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


def _point_encode(p):
    return (p.x, p.y)


def _point_decode(payload):
    return Point(*payload)


def test_register_user_type(registry):
    registry.register(Point, "point", _point_encode, _point_decode)
    assert registry.registered()["point"] is Point
    assert registry.encode(Point(1, 2)) == ("point", (1, 2))
    assert registry.decode("point", (1, 2)) == Point(1, 2)


def test_register_duplicate_tag_raises(registry):
    with pytest.raises(ValueError) as ei:
        registry.register(Point, "date", _point_encode, _point_decode)
    msg = str(ei.value)
    assert "'date'" in msg and "datetime.date" in msg and "Point" in msg
    assert "replace=True" in msg
    assert registry.registered()["date"] is dt.date
    assert registry.encode(Point(1, 2)) is None


def test_register_duplicate_type_raises(registry):
    with pytest.raises(ValueError) as ei:
        registry.register(dt.date, "mydate", str, str)
    msg = str(ei.value)
    assert "datetime.date" in msg and "'date'" in msg and "'mydate'" in msg
    assert "mydate" not in registry.registered()
    assert registry.encode(dt.date(2020, 1, 1))[0] == "date"


def test_register_replace_tag(registry):
    registry.register(Point, "date", _point_encode, _point_decode, replace=True)
    assert registry.registered()["date"] is Point
    # The type that held the tag is no longer encodable by value.
    assert registry.encode(dt.date(2020, 1, 1)) is None
    assert registry.decode("date", (1, 2)) == Point(1, 2)
    # datetime is still registered, by exact type.
    assert registry.encode(dt.datetime(2020, 1, 1))[0] == "datetime"


def test_register_replace_type(registry):
    registry.register(dt.date, "ordinal", dt.date.toordinal, dt.date.fromordinal, replace=True)
    assert "date" not in registry.registered()
    assert registry.encode(dt.date(2020, 1, 1)) == ("ordinal", 737425)
    assert registry.decode("ordinal", 737425) == dt.date(2020, 1, 1)
    assert registry.decode("date", (2020, 1, 1)) == Tagged("date", (2020, 1, 1))


def test_register_replace_both(registry):
    registry.register(Point, "point", _point_encode, _point_decode)
    registry.register(Point, "date", _point_encode, _point_decode, replace=True)
    reg = registry.registered()
    assert reg["date"] is Point
    assert "point" not in reg
    assert dt.date not in reg.values()


def test_register_same_again_needs_replace(registry):
    registry.register(Point, "point", _point_encode, _point_decode)
    with pytest.raises(ValueError, match="'point'"):
        registry.register(Point, "point", _point_encode, _point_decode)
    registry.register(Point, "point", _point_encode, _point_decode, replace=True)
    assert registry.registered()["point"] is Point


def test_register_atom_tag_is_stored_as_str(registry):
    registry.register(Point, Atom("point"), _point_encode, _point_decode)
    tag, _ = registry.encode(Point(1, 2))
    assert type(tag) is str and tag == "point"


@pytest.mark.parametrize("args, name, shown", [
    (("Point", "point", _point_encode, _point_decode), "type_", "'Point'"),
    ((Point(1, 2), "point", _point_encode, _point_decode), "type_", "Point object"),
    ((Point, "", _point_encode, _point_decode), "tag", "''"),
    ((Point, 5, _point_encode, _point_decode), "tag", "5"),
    ((Point, None, _point_encode, _point_decode), "tag", "None"),
    ((Point, "point", "enc", _point_decode), "encode", "'enc'"),
    ((Point, "point", _point_encode, None), "decode", "None"),
])
def test_register_validates_arguments(registry, args, name, shown):
    with pytest.raises(TypeError) as ei:
        registry.register(*args)
    msg = str(ei.value)
    assert name in msg and shown in msg
    assert "point" not in registry.registered()


def test_unregister(registry):
    registry.unregister("complex")
    assert "complex" not in registry.registered()
    assert registry.encode(1j) is None
    assert registry.decode("complex", (0.0, 1.0)) == Tagged("complex", (0.0, 1.0))


def test_unregister_unknown_tag(registry):
    with pytest.raises(KeyError, match="'nosuchtag'"):
        registry.unregister("nosuchtag")
    registry.unregister("set")
    with pytest.raises(KeyError, match="'set'"):
        registry.unregister("set")


# -- errors from encoders and decoders ---------------------------------------

def test_decode_error_message_example():
    with pytest.raises(ValueError) as ei:
        encoders.decode("date", (1923, 13, 2))
    assert str(ei.value) == ("pyactor.encoders: cannot decode tag 'date' from payload "
                             "(1923, 13, 2): month must be in 1..12")
    assert isinstance(ei.value.__cause__, ValueError)


@pytest.mark.parametrize("tag, payload", [
    ("date", "2024-01-01"),
    ("date", (2024, 1)),
    ("date", (2024, 1, 2, 3)),
    ("date", (2024, 13, 1)),
    ("date", (2024.0, 1, 1)),
    ("date", (True, 1, 1)),
    ("date", None),
    ("datetime", (2024, 1, 1, 0, 0, 0, 0)),
    ("datetime", (2024, 1, 1, 0, 0, 0, 0, "UTC")),
    ("datetime", (2024, 1, 1, 0, 0, 0, 0, True)),
    ("datetime", (2024, 1, 1, 0, 0, 0, 0, 86400)),
    ("datetime", (2024, 1, 1, 24, 0, 0, 0, None)),
    ("datetime", {"year": 2024}),
    ("time", (25, 0, 0, 0, None)),
    ("time", (1, 0, 0, 0)),
    ("time", (1, 0, 0, 0, [0])),
    ("timedelta", (1, 2)),
    ("timedelta", (1.5, 0, 0)),
    ("timedelta", (1000000000, 0, 0)),
    ("timedelta", 5),
    ("decimal", 1.5),
    ("decimal", "abc"),
    ("decimal", b"1.5"),
    ("set", "abc"),
    ("set", [[1]]),
    ("set", {1: 2}),
    ("frozenset", 7),
    ("frozenset", [{}]),
    ("complex", (1,)),
    ("complex", ("1", 2)),
    ("complex", (True, 0)),
    ("complex", 1.5),
])
def test_bad_payload_raises_value_error_naming_tag_and_payload(tag, payload):
    with pytest.raises(ValueError) as ei:
        encoders.decode(tag, payload)
    msg = str(ei.value)
    assert f"tag {tag!r}" in msg
    assert repr(payload) in msg
    assert ei.value.__cause__ is not None


def test_decoder_exception_is_wrapped(registry):
    class Boom(Exception):
        pass

    def bad_decode(payload):
        raise Boom("kaboom")

    registry.register(Point, "point", _point_encode, bad_decode)
    with pytest.raises(ValueError) as ei:
        registry.decode("point", (1, 2))
    assert "tag 'point'" in str(ei.value)
    assert "(1, 2)" in str(ei.value)
    assert "kaboom" in str(ei.value)
    assert isinstance(ei.value.__cause__, Boom)


def test_long_payload_is_shortened_in_message():
    payload = (1, 2, "x" * 10000)
    with pytest.raises(ValueError) as ei:
        encoders.decode("date", payload)
    msg = str(ei.value)
    assert len(msg) < 1000
    assert "(1, 2, 'xxx" in msg and "..." in msg


def test_encoder_exception_is_wrapped(registry):
    def bad_encode(p):
        raise RuntimeError("cannot do it")

    registry.register(Point, "point", bad_encode, _point_decode)
    with pytest.raises(ValueError) as ei:
        registry.encode(Point(1, 2))
    msg = str(ei.value)
    assert "'point'" in msg and "Point" in msg and "cannot do it" in msg
    assert isinstance(ei.value.__cause__, RuntimeError)
