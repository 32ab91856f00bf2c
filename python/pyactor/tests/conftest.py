"""Shared fixtures for the pyactor tests."""

import pytest

from pyactor import encoders


@pytest.fixture
def registry():
    """The ``pyactor.encoders`` module, restored to its prior registrations
    (and with a clean MRO cache) after the test."""
    encoders._ensure_builtins()  # the snapshot must hold them: they install once
    by_tag = dict(encoders._by_tag)
    by_type = dict(encoders._by_type)
    try:
        yield encoders
    finally:
        with encoders._lock:
            encoders._by_tag.clear()
            encoders._by_tag.update(by_tag)
            encoders._by_type.clear()
            encoders._by_type.update(by_type)
            encoders._mro_cache.clear()
