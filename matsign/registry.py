r"""Where methods and matrix sources are declared: :func:`register` and :func:`register_source`.

A method is declared once, in the module of its algorithm: the call, its parameters (read from
the signature), the check of their values that needs no matrix (the same check the public
function runs), its flop estimate, its plot label and its σ-only prediction
(:func:`matsign.predict`). A source (a family of test matrices) is
declared the same way beside its generator. :data:`METHODS` and :data:`SOURCES` only collect
what the modules declared; importing :mod:`matsign` imports every declaring module.

A method is a boundary (:func:`matsign._backend.boundary`): calling it checks ``G`` once, and
the public functions the method calls inside trust the arrays computed from it, so a method
written from public functions reads the host once. This module imports only ``_backend``, so
any layer may declare into it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

from matsign._backend.checks import boundary, check_matrix

__all__ = [
    "METHODS",
    "REQUIRED",
    "SOURCES",
    "Method",
    "Source",
    "complete_params",
    "get_method",
    "get_source",
    "register",
    "register_source",
]


class _Required:
    """The type of :data:`REQUIRED`, whose only job is to print as ``REQUIRED``."""

    def __repr__(self):
        return "REQUIRED"


#: Marks a parameter without a default in :attr:`Method.params` and :attr:`Source.params`.
REQUIRED = _Required()


def complete_params(owner: str, defaults: Mapping[str, object], params, *, fixed=()) -> dict:
    """``params`` completed with ``defaults``, else a ``ValueError`` naming ``owner``.

    Parameters
    ----------
    owner : str
        What the parameters belong to, for the message (``"method 'dion2'"``).
    defaults : mapping
        Every accepted name → its default, or :data:`REQUIRED`.
    params : mapping
        The given values; an unknown name, or a :data:`REQUIRED` one left unset, raises.
    fixed : sequence of str
        Names the caller handles itself, listed as accepted in the message.

    Examples
    --------
    >>> complete_params("source 'x'", {"alpha": 1.0, "rank": REQUIRED}, {"rank": 3})
    {'alpha': 1.0, 'rank': 3}
    """
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        accepted = ", ".join([*fixed, *defaults]) or "(none)"
        raise ValueError(f"{owner} has no parameter {unknown[0]!r}; its parameters: {accepted}")
    full = {**defaults, **params}
    missing = [k for k, v in full.items() if v is REQUIRED]
    if missing:
        raise ValueError(f"{owner} needs parameter {missing[0]!r}")
    return full


def keyword_params(function: Callable, skip=("rng",)) -> dict:
    """``function``'s keyword-only parameters (less ``skip``) → default, :data:`REQUIRED` if none."""
    return {
        name: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in skip
    }


def _check_name(name, registry, what):
    """``name`` is a non-empty string not yet in ``registry``, else a ``ValueError``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if name in registry:
        raise ValueError(f"a {what} named {name!r} is already registered")


def _check_rng_argument(function, what):
    """``function`` takes a keyword-only ``rng``, else a ``ValueError`` naming ``what``."""
    sig = inspect.signature(function)
    if "rng" not in sig.parameters or sig.parameters["rng"].kind is not inspect.Parameter.KEYWORD_ONLY:
        raise ValueError(f"function of {what} must take a keyword-only rng argument")


@dataclass(frozen=True)
class Method:
    """One registered approximation of ``msign``.

    Attributes
    ----------
    name : str
    function : callable
        ``function(G, *, rng, **params)`` → array like ``G``.
    description : str
        One line: what it computes.
    flops_function : callable
        ``flops_function(m, n, **params)`` → estimated flops (model in :mod:`matsign.flops`).
    params : mapping
        Parameter name → default (:data:`REQUIRED` if none), from ``function``'s signature.
    check : callable or None
        ``check(**params)`` raises ``ValueError``/``TypeError`` naming a bad value, without a
        matrix; ``None`` for a method without parameters.
    label_function : callable or None
        ``label_function(params)`` → how the papers name the method with these parameters.
    predict_function : callable or None
        ``predict_function(spectrum, **params)`` → the σ-only prediction of its alignment and
        relative error (:func:`matsign.prediction.predict`); ``None`` if it declares none.
    """

    name: str
    function: Callable
    description: str
    flops_function: Callable
    params: Mapping[str, object]
    check: Callable | None = None
    label_function: Callable | None = None
    predict_function: Callable | None = None

    def resolve(self, params) -> dict:
        """``params`` completed with the defaults; unknown or missing parameters raise."""
        return complete_params(f"method {self.name!r}", self.params, params)

    def check_params(self, params) -> dict:
        """``params`` completed with the defaults and checked before any matrix is seen.

        Bounds that depend on the matrix (``rank ≤ min(m, n)``) are left to the method.

        Examples
        --------
        >>> get_method("gaussian").check_params({"rank": 8})["power_iters"]
        0
        >>> get_method("gaussian").check_params({"rank": 8, "power_iters": -1})
        Traceback (most recent call last):
        ...
        ValueError: power_iters must be a non-negative integer, got -1
        """
        full = self.resolve(params)
        if self.check is not None:
            self.check(**full)
        return full

    def __call__(self, G, *, rng=None, **params):
        """Run the method on ``G`` (``rng`` as in :mod:`matsign._backend.random`)."""
        return _run(self.function, G, rng, self.resolve(params))

    def flops(self, m: int, n: int, **params) -> float:
        """Estimated flops on an ``m × n`` matrix with these parameters."""
        return float(self.flops_function(int(m), int(n), **self.resolve(params)))

    def label(self, params=None) -> str:
        """How the papers name this method with ``params`` (a mapping; missing entries allowed)."""
        return self.name if self.label_function is None else self.label_function(dict(params or {}))


@boundary
def _run(function, G, rng, params):
    """``function(G, rng=rng, **params)`` as one public call: ``G`` is checked and scanned once."""
    check_matrix(G, "G")
    return function(G, rng=rng, **params)


_METHODS: dict[str, Method] = {}

#: Read-only view of the registered methods, by name.
METHODS = MappingProxyType(_METHODS)


def register(
    name: str,
    function: Callable,
    *,
    description: str,
    flops: Callable,
    check: Callable | None = None,
    label: Callable | str | None = None,
    predict: Callable | None = None,
) -> Method:
    """Add a method to :data:`METHODS` and return it.

    Parameters
    ----------
    name : str
        New, unique name.
    function : callable
        ``function(G, *, rng=None, **params)``; parameters keyword-only, required if no default.
    description : str
        One line: what it computes.
    flops : callable
        ``flops(m, n, **params)``, keyword-only parameters named as ``function``'s.
    check : callable, optional
        ``check(**params)``, the same parameters: raise for a value ``function`` would reject.
    label : str or callable, optional
        The plot label, or ``label(params)`` → label; default the name.
    predict : callable, optional
        ``predict(spectrum, **params)``, the same keyword-only parameters: the σ-only prediction
        of the method's alignment and relative error, a mapping built with the helpers of
        :mod:`matsign.prediction` from a :class:`matsign.prediction.Spectrum` (what
        :func:`matsign.predict` returns for this method).

    Examples
    --------
    >>> import numpy as np
    >>> def scaled(G, *, rng=None, c=1.0):
    ...     return c * G
    >>> def scaled_flops(m, n, *, c):
    ...     return m * n
    >>> method = register("doc_scaled", scaled, description="c·G", flops=scaled_flops, label="c G")
    >>> float(method(np.ones((2, 2)), c=2.0)[0, 0]), method.flops(2, 3), dict(method.params)
    (2.0, 6.0, {'c': 1.0})
    >>> method.label({"c": 2.0})
    'c G'
    >>> _ = _METHODS.pop("doc_scaled")
    """
    _check_name(name, _METHODS, "method")
    _check_rng_argument(function, f"method {name!r}")
    params = keyword_params(function)
    for role, helper in (("flops", flops), ("check", check), ("predict", predict)):
        if helper is not None and set(keyword_params(helper, ())) != set(params):
            raise ValueError(
                f"{role} of method {name!r} must take the keyword-only parameters {sorted(params)}, "
                f"got {sorted(keyword_params(helper, ()))}"
            )
    label_function = (lambda params, text=label: text) if isinstance(label, str) else label
    method = Method(name, function, description, flops, MappingProxyType(params), check, label_function, predict)
    _METHODS[name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name``, or a ``ValueError`` listing the registered names.

    Examples
    --------
    >>> get_method("newton_schulz").params["schedule"]
    'muon'
    """
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(_METHODS)}") from None


@dataclass(frozen=True)
class Source:
    """One family of test matrices.

    Attributes
    ----------
    name : str
    function : callable
        ``function(m, n, *, rng, **params)`` → float64 NumPy matrix of shape ``(m, n)``.
    description : str
    params : mapping
        Parameter name → default (:data:`REQUIRED` if none), from ``function``'s signature.
    check : callable
        ``check(m, n, **params)`` raises ``ValueError`` naming a bad parameter, cheaply.
    shape : callable or None
        ``shape(**params)`` → ``(m, n)`` for sources whose parameters fix the shape.
    label_function : callable or None
        ``label_function(row)`` → a short title from a table row; default the name.
    """

    name: str
    function: Callable
    description: str
    params: Mapping[str, object]
    check: Callable
    shape: Callable | None = None
    label_function: Callable | None = None

    def resolve(self, params) -> dict:
        """``params`` (without ``m``, ``n``) completed with defaults; unknown or missing ones raise."""
        return complete_params(f"source {self.name!r}", self.params, params, fixed=("m", "n"))

    def __call__(self, m: int, n: int, *, rng=None, **params):
        """The ``m × n`` float64 NumPy matrix for seed ``rng``."""
        return self.function(m, n, rng=rng, **self.resolve(params))

    def label(self, row=None) -> str:
        """Short title of a matrix of this family, from a table row (a mapping)."""
        return self.name if self.label_function is None else self.label_function(row or {})


_SOURCES: dict[str, Source] = {}

#: Read-only view of the registered sources, by name.
SOURCES = MappingProxyType(_SOURCES)


def register_source(
    name: str,
    function: Callable,
    *,
    description: str,
    check: Callable,
    shape: Callable | None = None,
    label: Callable | str | None = None,
) -> Source:
    """Add a family to :data:`SOURCES` and return it.

    Parameters
    ----------
    name : str
        New, unique name.
    function : callable
        ``function(m, n, *, rng, **params)`` → float64 NumPy matrix; parameters keyword-only.
    description : str
        One line: what the matrices are.
    check : callable
        ``check(m, n, **params)``: raise ``ValueError`` for values ``function`` would reject.
    shape : callable, optional
        ``shape(**params)`` → ``(m, n)`` for sources whose parameters fix the shape.
    label : str or callable, optional
        The plot title, or ``label(row)`` → title; default the name.

    Examples
    --------
    >>> import numpy as np
    >>> def ones(m, n, *, rng=None, scale=1.0):
    ...     return np.full((m, n), scale)
    >>> source = register_source("doc_ones", ones, description="constant", check=lambda m, n, scale: None)
    >>> float(source(2, 3, scale=2.0)[0, 0]), dict(source.params)
    (2.0, {'scale': 1.0})
    >>> _ = _SOURCES.pop("doc_ones")
    """
    _check_name(name, _SOURCES, "source")
    _check_rng_argument(function, f"source {name!r}")
    label_function = (lambda row, text=label: text) if isinstance(label, str) else label
    source = Source(name, function, description, MappingProxyType(keyword_params(function)), check, shape,
                    label_function)
    _SOURCES[name] = source
    return source


def get_source(name: str) -> Source:
    """The registered source ``name``, or a ``ValueError`` listing the registered names.

    Examples
    --------
    >>> import matsign.experiments.sources  # declares the built-in sources
    >>> get_source("power_law").params["alpha"]
    1.0
    """
    try:
        return _SOURCES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown source {name!r}; registered: {', '.join(_SOURCES)}") from None
