"""What a worker imports at start stays small (issue 12, start to ready):
the built-in encoders load datetime and decimal on first use, and the SIGINT
guard wraps _signal without importing signal (and enum)."""

import os
import subprocess
import sys

import pytest

PYTHON = "/usr/bin/python3"
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_fresh(code):
    """Runs ``code`` in a fresh Debian python3 with the package on sys.path;
    returns its stdout (fails the test with its stderr otherwise)."""
    prelude = f"import sys; sys.path.insert(0, {PACKAGE_DIR!r})\n"
    done = subprocess.run([PYTHON, "-E", "-P", "-c", prelude + code],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_worker_package_loads_no_datetime_decimal_or_threading():
    out = run_fresh("import pyactor, pyactor._worker\n"
                    "print(sorted(m for m in ('datetime', 'decimal', 'threading')"
                    " if m in sys.modules))")
    assert out == "[]"


def test_first_encode_of_a_builtin_type_installs_them():
    out = run_fresh("import datetime\n"
                    "from pyactor import encoders\n"
                    "print(encoders.encode(datetime.date(1923, 4, 2)))")
    assert out == "('date', (1923, 4, 2))"


def test_first_decode_of_a_builtin_tag_installs_them():
    out = run_fresh("from pyactor import encoders\n"
                    "print(repr(encoders.decode('decimal', '1.5')))")
    assert out == "Decimal('1.5')"


def test_subclass_of_a_builtin_type_is_encoded_before_any_other_use():
    out = run_fresh("import datetime\n"
                    "class D(datetime.date): pass\n"
                    "from pyactor import encoders\n"
                    "print(encoders.encode(D(2000, 1, 2)))")
    assert out == "('date', (2000, 1, 2))"


def test_a_user_registration_cannot_take_a_builtin_tag_before_first_use():
    out = run_fresh("from pyactor import encoders\n"
                    "try:\n"
                    "    encoders.register(int, 'date', str, int)\n"
                    "except ValueError as e:\n"
                    "    print('refused:', e)\n")
    assert out.startswith("refused:") and "'date' is already registered" in out


def test_the_sigint_guard_imports_neither_signal_nor_enum_and_still_guards():
    out = run_fresh("import warnings\n"
                    "warnings.simplefilter('ignore')\n"
                    "from pyactor import _worker\n"
                    "_worker.protect_sigint()\n"
                    "print(sorted(m for m in ('signal', 'enum') if m in sys.modules))\n"
                    "import signal\n"
                    "signal.signal(signal.SIGINT, lambda *a: None)\n"
                    "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n")
    assert out.splitlines() == ["[]", "True"]
