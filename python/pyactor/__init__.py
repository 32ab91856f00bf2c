"""pyactor: the Python side of the pyactor runtime.

This package is imported into every worker process. It provides the value
types that have no plain Python counterpart (``Atom``, ``Tagged``,
``Opaque``) and the encoder registry (``pyactor.encoders``) that turns
by-value types such as ``datetime.date`` into ``(tag, payload)`` pairs and
back. See design.md, section "Values".
"""

from pyactor import encoders
from pyactor.types import Atom, Opaque, Tagged

__version__ = "0.1.0"

__all__ = ["Atom", "Opaque", "Tagged", "encoders", "__version__"]
