"""Matrix sources of a sweep: every registered family of test matrices, by name.

A source builds one float64 NumPy matrix from a shape, a seed and its parameters; the sweep
engine moves it to the backend and casts it to the cell's ``input_dtype``. Generating on the host
in float64 makes the matrix of a (source, parameters, seed) the same on every backend and for
every method, so methods and backends are compared on identical inputs.

Each family is declared beside its generator: the synthetic ones in :mod:`matsign.synthetic`
(a table there lists them and their parameters), ``recorded`` in :mod:`matsign.io.source`. This
module only imports both, so that :data:`SOURCES` holds them all. Add a family with
:func:`matsign.registry.register_source`.
"""

from __future__ import annotations

import matsign.io.source  # noqa: F401  (declares "recorded")
import matsign.synthetic  # noqa: F401  (declares the synthetic families)
from matsign.registry import SOURCES, Source, get_source, register_source

__all__ = ["SOURCES", "Source", "get_source", "register_source"]
