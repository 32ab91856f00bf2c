"""Tests for pyactor._worker, the helpers the C++ worker calls."""

import datetime as dt
import json
import os
import os.path
import platform
import sys

import pytest

import pyactor
from pyactor import _worker


# -- describe_exception ------------------------------------------------------

def _raise_and_catch(fn):
    try:
        fn()
    except BaseException as exc:  # the test needs whatever fn raised
        return exc
    raise AssertionError("fn did not raise")


def _divide_by_zero():
    return 1 / 0


def test_describe_builtin_exception():
    exc = _raise_and_catch(_divide_by_zero)
    type_name, message, tb = _worker.describe_exception(exc)
    assert type_name == "ZeroDivisionError"
    assert message == "division by zero"
    assert tb.startswith("Traceback (most recent call last):\n")
    assert "_divide_by_zero" in tb
    assert tb.rstrip().endswith("ZeroDivisionError: division by zero")


def test_describe_module_exception():
    exc = _raise_and_catch(lambda: json.loads("{nope"))
    type_name, message, tb = _worker.describe_exception(exc)
    assert type_name == "json.decoder.JSONDecodeError"
    assert message == str(exc) and "line 1" in message
    assert "json.decoder.JSONDecodeError" in tb


class Outer:
    class InnerError(Exception):
        pass


def test_describe_nested_class_uses_qualname():
    exc = _raise_and_catch(lambda: (_ for _ in ()).throw(Outer.InnerError("x")))
    type_name, message, _ = _worker.describe_exception(exc)
    assert type_name == f"{__name__}.Outer.InnerError"
    assert message == "x"


def test_describe_key_error_uses_str():
    exc = _raise_and_catch(lambda: {}["missing"])
    type_name, message, _ = _worker.describe_exception(exc)
    assert type_name == "KeyError"
    assert message == "'missing'"


def test_describe_chained_exception_traceback():
    def chained():
        try:
            _divide_by_zero()
        except ZeroDivisionError as e:
            raise RuntimeError("wrapped") from e

    type_name, message, tb = _worker.describe_exception(_raise_and_catch(chained))
    assert (type_name, message) == ("RuntimeError", "wrapped")
    assert "ZeroDivisionError: division by zero" in tb
    assert "direct cause" in tb
    assert tb.rstrip().endswith("RuntimeError: wrapped")


def test_describe_unraised_exception():
    type_name, message, tb = _worker.describe_exception(ValueError("bad", 2))
    assert type_name == "ValueError"
    assert message == "('bad', 2)"
    assert tb == "ValueError: ('bad', 2)\n"


def test_describe_exception_with_broken_str():
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    type_name, message, _ = _worker.describe_exception(Broken())
    assert type_name.endswith("Broken")
    assert "no str" in message


# -- versions ----------------------------------------------------------------

def test_versions():
    v = _worker.versions(3, 12345)
    assert set(v) == {"python", "python_version", "pyactor", "executable", "pid",
                      "worker_id", "worker_uid", "platform"}
    assert all(type(k) is str for k in v)
    assert v["python"] == sys.version.splitlines()[0] and "\n" not in v["python"]
    assert v["python_version"] == platform.python_version()
    assert v["python_version"].count(".") == 2
    assert v["pyactor"] == pyactor.__version__ == "0.1.0"
    assert v["executable"] == sys.executable
    assert v["pid"] == os.getpid()
    assert v["worker_id"] == 3
    assert v["worker_uid"] == 12345
    assert v["platform"] == "%s-%s-%s" % (os.uname().sysname, os.uname().release, os.uname().machine)


# -- resolve -----------------------------------------------------------------

def test_resolve_attribute():
    assert _worker.resolve("math", "sqrt") is __import__("math").sqrt


def test_resolve_dotted_path():
    assert _worker.resolve("os", "path.isfile") is os.path.isfile
    assert _worker.resolve("datetime", "datetime.now") == dt.datetime.now


def test_resolve_dotted_module_name():
    assert _worker.resolve("os.path", "join") is os.path.join
    assert _worker.resolve("pyactor.types", "Atom") is pyactor.Atom


def test_resolve_empty_name_gives_module():
    assert _worker.resolve("os", "") is os


def test_resolve_missing_module():
    with pytest.raises(ModuleNotFoundError) as ei:
        _worker.resolve("no_such_module_pyactor", "x")
    assert ei.value.name == "no_such_module_pyactor"


def test_resolve_missing_attribute():
    with pytest.raises(AttributeError) as ei:
        _worker.resolve("math", "nope")
    assert str(ei.value) == "module 'math' has no attribute 'nope' (looking up math.nope)"
    assert ei.value.name == "nope"


def test_resolve_missing_nested_attribute():
    with pytest.raises(AttributeError) as ei:
        _worker.resolve("datetime", "datetime.nope")
    msg = str(ei.value)
    assert "'nope'" in msg and "(looking up datetime.datetime.nope)" in msg
    with pytest.raises(AttributeError, match=r"\(looking up os\.path\.nope\.deeper\)"):
        _worker.resolve("os", "path.nope.deeper")


# -- cast --------------------------------------------------------------------

def test_cast_unchanged():
    obj = object()
    assert _worker.cast(obj, "") is obj


@pytest.mark.parametrize("value, how, expected", [
    (3.9, "int", 3),
    ("42", "int", 42),
    (True, "int", 1),
    (2, "float", 2.0),
    ("1.5", "float", 1.5),
    (42, "str", "42"),
    (pyactor.Atom("ok"), "str", "ok"),
])
def test_cast(value, how, expected):
    result = _worker.cast(value, how)
    assert result == expected
    assert type(result) is type(expected)


def test_cast_conversion_error_propagates():
    with pytest.raises(ValueError, match="invalid literal"):
        _worker.cast("abc", "int")
    with pytest.raises(TypeError):
        _worker.cast(None, "float")


@pytest.mark.parametrize("how", ["bool", "INT", "list", None, 1])
def test_cast_unknown(how):
    with pytest.raises(ValueError) as ei:
        _worker.cast(1, how)
    msg = str(ei.value)
    assert repr(how) in msg
    for allowed in ("''", "'int'", "'float'", "'str'"):
        assert allowed in msg
