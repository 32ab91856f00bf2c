"""Tests for pyactor.types and the package's exports."""

import copy

import pytest

import pyactor
from pyactor import Atom, Opaque, Tagged


def test_package_exports():
    assert pyactor.__version__ == "0.1.0"
    assert pyactor.Atom is Atom and pyactor.Tagged is Tagged and pyactor.Opaque is Opaque
    assert pyactor.encoders.__name__ == "pyactor.encoders"
    assert set(pyactor.__all__) == {"Atom", "Tagged", "Opaque", "encoders", "__version__"}


# -- Atom --------------------------------------------------------------------

def test_atom_repr():
    assert repr(Atom("ok")) == "Atom('ok')"
    assert repr(Atom("it's")) == 'Atom("it\'s")'


def test_atom_equals_and_hashes_like_str():
    a = Atom("ok")
    assert a == "ok" and "ok" == a
    assert hash(a) == hash("ok")
    assert {"ok": 1}[a] == 1
    assert a != Atom("error")


def test_atom_type_is_distinct():
    a = Atom("ok")
    assert type(a) is Atom
    assert type("ok") is not Atom
    assert isinstance(a, str)
    assert str(a) == "ok" and type(str(a)) is str


def test_atom_has_no_instance_dict():
    with pytest.raises(AttributeError):
        Atom("ok").extra = 1


# -- Tagged ------------------------------------------------------------------

def test_tagged_fields_and_repr():
    t = Tagged("mytag", (1, 2))
    assert t.tag == "mytag"
    assert t.payload == (1, 2)
    assert repr(t) == "Tagged('mytag', (1, 2))"


def test_tagged_equality():
    assert Tagged("a", (1, 2)) == Tagged("a", (1, 2))
    assert Tagged("a", (1, 2)) != Tagged("b", (1, 2))
    assert Tagged("a", (1, 2)) != Tagged("a", (1, 3))
    assert Tagged("a", (1, 2)) != ("a", (1, 2))
    assert Tagged("a", [1]) == Tagged("a", [1])


def test_tagged_hash():
    assert hash(Tagged("a", (1, 2))) == hash(Tagged("a", (1, 2)))
    assert len({Tagged("a", (1, 2)), Tagged("a", (1, 2)), Tagged("b", 1)}) == 2
    with pytest.raises(TypeError):
        hash(Tagged("a", [1, 2]))


def test_tagged_is_immutable():
    t = Tagged("a", 1)
    with pytest.raises(AttributeError, match="immutable"):
        t.tag = "b"
    with pytest.raises(AttributeError, match="immutable"):
        t.payload = 2
    with pytest.raises(AttributeError, match="immutable"):
        del t.tag
    with pytest.raises(AttributeError):
        t.other = 1
    assert t == Tagged("a", 1)


def test_tagged_is_not_a_tuple():
    # The C++ encoder must not mistake it for a tuple.
    assert not isinstance(Tagged("a", 1), tuple)


def test_tagged_rejects_non_str_tag():
    with pytest.raises(TypeError, match="tag must be a str"):
        Tagged(1, 2)


def test_tagged_atom_tag_becomes_str():
    t = Tagged(Atom("x"), 1)
    assert type(t.tag) is str and t.tag == "x"


def test_tagged_copy():
    t = Tagged("a", [1, [2]])
    assert copy.copy(t) == t
    d = copy.deepcopy(t)
    assert d == t and d.payload is not t.payload


# -- Opaque ------------------------------------------------------------------

def test_opaque_fields_and_repr():
    o = Opaque("pid", b"\x83g")
    assert o.kind == "pid"
    assert o.data == b"\x83g"
    assert repr(o) == "Opaque('pid', b'\\x83g')"


def test_opaque_equality_and_hash():
    assert Opaque("pid", b"x") == Opaque("pid", b"x")
    assert Opaque("pid", b"x") != Opaque("ref", b"x")
    assert Opaque("pid", b"x") != Opaque("pid", b"y")
    assert Opaque("pid", b"x") != Tagged("pid", b"x")
    assert hash(Opaque("pid", b"x")) == hash(Opaque("pid", b"x"))
    assert len({Opaque("pid", b"x"), Opaque("pid", b"x")}) == 1


def test_opaque_data_is_stored_as_bytes():
    o = Opaque("fun", bytearray(b"ab"))
    assert type(o.data) is bytes and o.data == b"ab"
    assert Opaque("fun", memoryview(b"ab")) == o


def test_opaque_is_immutable():
    o = Opaque("pid", b"x")
    with pytest.raises(AttributeError, match="immutable"):
        o.data = b"y"
    with pytest.raises(AttributeError, match="immutable"):
        o.kind = "ref"
    assert o == Opaque("pid", b"x")


def test_opaque_validates_arguments():
    with pytest.raises(TypeError, match="kind must be a str"):
        Opaque(b"pid", b"x")
    with pytest.raises(TypeError, match="data must be bytes"):
        Opaque("pid", "x")


def test_opaque_copy():
    o = Opaque("ref", b"\x01\x02")
    assert copy.deepcopy(o) == o
