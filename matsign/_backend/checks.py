"""Input validation shared by every public function: errors that name the offending argument.

Two kinds of check live here. Checks of parameters (:func:`check_real`, the one number check,
and the integer, choice and rank checks built on the same pattern) cost nothing. Checks of
arrays (:func:`check_matrix`) also scan the values for NaN/Inf, which reads the host; the
:func:`boundary` decorator makes that scan run once per public call, at the outermost one.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import functools
import math
import numbers

import numpy as np

from matsign._backend.dtypes import ARRAY_DTYPES, dtype_name
from matsign._backend.namespace import library, namespace
from matsign._backend.precision import default_rtol, linalg_dtype


def check_matrix(x, name: str = "G", *, batched: bool = True, finite: bool = True):
    """Validate a real floating matrix (or stack of matrices) and return its namespace.

    Parameters
    ----------
    x : array, shape (m, n) or (..., m, n)
    name : str
        The argument's name, for the error messages.
    batched : bool
        Whether a stack ``(..., m, n)`` is accepted.
    finite : bool
        Whether to scan for NaN/Inf: one pass over ``x`` and one boolean read to the host,
        skipped for arrays the enclosing public call computed (:func:`boundary`).

    Raises
    ------
    TypeError
        For non-arrays and complex, integer or boolean dtypes.
    ValueError
        For 0-D/1-D input, stacks where ``batched`` is false, empty matrices and (when
        ``finite``) NaN/Inf entries.
    """
    lib = _library_of(x, name)
    xp = namespace(x)
    dt = dtype_name(x.dtype)
    if dt not in ARRAY_DTYPES:
        kind = "complex" if "complex" in dt else dt
        raise TypeError(
            f"{name} must be a real floating-point array ({', '.join(ARRAY_DTYPES)}); got {kind} "
            f"({lib}). Convert it first, e.g. to float64."
        )
    if x.ndim < 2:
        raise ValueError(
            f"{name} must be a matrix of shape (m, n){' or (..., m, n)' if batched else ''}; "
            f"got a {x.ndim}-D array of shape {tuple(x.shape)}"
        )
    if not batched and x.ndim > 2:
        raise ValueError(f"{name} must be a single matrix (m, n); got shape {tuple(x.shape)}")
    if any(int(s) == 0 for s in x.shape):
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    state = _TRUSTED.get()
    trusted = state is True or (state is _NESTED and dt != "float16")
    if finite and not trusted and not all_finite(x):
        hint = _FLOAT16_OVERFLOW if state is _NESTED else state
        raise ValueError(f"{name} contains NaN or Inf entries" + (f" ({hint})" if isinstance(hint, str) else ""))
    return xp


def all_finite(x) -> bool:
    """Whether no entry of array ``x`` is NaN or ±Inf, read back to the host.

    Notes
    -----
    First one reduction, the sum in ``x``'s LAPACK dtype (float32 for 16-bit inputs): NaN and
    Inf propagate through it, so a finite sum proves every entry finite. Only a sum that is not
    finite (a bad entry, or finite entries that overflow it) leads to the entrywise scan, which
    decides. The sum is one pass without a boolean temporary; on PyTorch's CPU backend it is
    about 40 times faster than the entrywise scan at 4096² (``benchmarks/checks.py``).
    """
    xp = namespace(x)
    with np.errstate(over="ignore", invalid="ignore"):  # NumPy would warn of what the scan decides
        total = xp.sum(x, dtype=linalg_dtype(x))
    if bool(xp.isfinite(total)):
        return True
    return bool(xp.all(xp.isfinite(x)))


# Trust state: False (scan every array), True (scan none: a trusted_values block), _NESTED (a
# call nested in a public call: scan float16 arrays only) or the float16 overflow hint (a
# trusted_values block over float16 sums: scan every array, and say why one failed).
_TRUSTED = contextvars.ContextVar("matsign_trusted_values", default=False)
#: Whether a boundary function is running (the next one is nested).
_ENTERED = contextvars.ContextVar("matsign_public_call", default=False)
_NESTED = object()
_FLOAT16_OVERFLOW = (
    "computed from a finite float16 input, it overflowed float16's range of ±65504: scale the "
    "input down or use bfloat16 or float32"
)


def boundary(function):
    """Decorator marking ``function`` as a public entry point: its outermost call checks in full.

    The outermost call of any boundary function scans its array inputs for NaN/Inf (one read
    to the host per array). Boundary functions called inside it, directly or through others,
    receive arrays computed from those checked inputs and skip the value scans, so a public call
    reads the host once per user input whatever its depth. Shapes, dtypes and libraries are
    always checked (they cost no read).

    Notes
    -----
    float16 arrays are scanned in nested calls too, since sums in float16 overflow at 65504; a
    failed nested scan says that float16 overflowed. A boundary function must therefore check
    its own inputs before it calls another public function. The state is scoped per thread and
    per task (``contextvars``); an enclosing :func:`trusted_values` block is left as it is.
    """

    @functools.wraps(function)
    def public_call(*args, **kwargs):
        if not _ENTERED.get():
            token = _ENTERED.set(True)
            try:
                return function(*args, **kwargs)
            finally:
                _ENTERED.reset(token)
        if _TRUSTED.get() is not False:
            return function(*args, **kwargs)
        token = _TRUSTED.set(_NESTED)
        try:
            return function(*args, **kwargs)
        finally:
            _TRUSTED.reset(token)

    return public_call


@contextlib.contextmanager
def trusted_values(computed_from=None):
    r"""Skip the checks that read array values back to the host inside this block.

    Skipped: the NaN/Inf scan of :func:`check_matrix` and every check that asks
    :func:`values_trusted`. Shapes, dtypes and libraries are still checked.

    Parameters
    ----------
    computed_from : array, optional
        The checked array the trusted ones were summed or scaled from in its own dtype; if it is
        float16 the block scans instead (also inside a trusted block) and names the overflow.

    Notes
    -----
    Calls nested in a :func:`boundary` call trust already; this block is for code outside one
    (stateful update rules) that passes arrays computed from checked inputs to public
    functions. Each skipped scan is a pass over the array and a read to the host, which on a
    GPU waits for every queued kernel.

    What may be trusted: slices of checked arrays, their SVD/QR factors, and products with
    orthonormal factors formed in float32 or float64. Sums and scalings in the input's own dtype
    (a momentum buffer, rows scaled by :math:`(r + \varepsilon)^{e}`, a residual divided by a
    probability) can overflow: pass the checked array as ``computed_from``. In float16 (largest
    value 65504) a momentum sum of realistically sized gradients overflows; in bfloat16, float32
    and float64 such sums overflow only for entries within a small factor of the dtype's largest
    value (or for extreme exponents and probabilities), so they are trusted, and callers that can
    meet that case check their result (:meth:`matsign.updates.UpdateRule.step` checks every
    update). Scoped per thread and per task (``contextvars``).
    """
    float16 = computed_from is not None and dtype_name(computed_from.dtype) == "float16"
    token = _TRUSTED.set(_FLOAT16_OVERFLOW if float16 else True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def values_trusted() -> bool:
    """Whether value checks are skipped here: inside :func:`trusted_values`, or in a call nested
    in a :func:`boundary` call."""
    return _TRUSTED.get() is True or _TRUSTED.get() is _NESTED


def check_same_library(*named):
    """Namespace shared by the arrays of ``named``, pairs ``(name, array)``, else a ``TypeError``.

    The error names every argument with its library, e.g. ``G (numpy) and Q (torch)``.

    Examples
    --------
    >>> import numpy as np
    >>> check_same_library(("G", np.eye(2)), ("Q", np.eye(2))).__name__
    'array_api_compat.numpy'
    """
    libraries = [(name, _library_of(x, name)) for name, x in named]
    if len({lib for _, lib in libraries}) > 1:
        listed = " and ".join(f"{name} ({lib})" for name, lib in libraries)
        raise TypeError(f"{listed} must be arrays of the same library; convert one of them first")
    return namespace(*(x for _, x in named))


def _library_of(x, name: str) -> str:
    """:func:`library` of ``x``, with a ``TypeError`` that names the argument ``name``."""
    try:
        return library(x)
    except TypeError:
        raise TypeError(
            f"{name} must be a NumPy, CuPy or PyTorch array, got {type(x).__module__}.{type(x).__name__}"
        ) from None


def check_choice(value, choices, name: str):
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming ``name`` and listing them.

    A value of another type never matches (an array or a number is not a name).
    """
    if not any(isinstance(value, type(choice)) and value == choice for choice in choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_real(value, name: str, *, low=-math.inf, high=math.inf, open_low=False, open_high=False) -> float:
    """``value`` as a float if it is a finite real number in the interval, else a ``ValueError``.

    The one number check of the package: every real-valued parameter goes through it.

    Parameters
    ----------
    value : object
        Booleans are not numbers.
    name : str
        The argument's name, for the error message.
    low, high : float
        The ends of the interval (infinite: unbounded on that side).
    open_low, open_high : bool
        Whether ``low`` or ``high`` is excluded.

    Examples
    --------
    >>> check_real(0.5, "q", low=0, high=1, open_low=True, open_high=True)
    0.5
    >>> check_real(float("nan"), "alpha")
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a finite number, got nan
    >>> check_real(0, "eps", low=0, open_low=True)
    Traceback (most recent call last):
    ...
    ValueError: eps must be a finite number > 0, got 0
    >>> check_real(1, "q", low=0, high=1, open_high=True)
    Traceback (most recent call last):
    ...
    ValueError: q must be a number in [0, 1), got 1
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if ok:
        ok = (low < value if open_low else low <= value) and (value < high if open_high else value <= high)
    if not ok:
        raise ValueError(f"{name} must be {_interval(low, high, open_low, open_high)}, got {value!r}")
    return float(value)


def _interval(low, high, open_low, open_high) -> str:
    """What :func:`check_real` accepts, in words ("a number in [0, 1)", "a finite number > 0")."""
    if math.isinf(low) and math.isinf(high):
        return "a finite number"
    if math.isinf(high):
        return f"a finite number {'>' if open_low else '≥'} {low:g}"
    if math.isinf(low):
        return f"a finite number {'<' if open_high else '≤'} {high:g}"
    # A number in a bounded interval is finite: no need to say so.
    return f"a number in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"


def check_unit_interval(value, name: str) -> float:
    """``value`` as a float in the open interval ``(0, 1)``, else a ``ValueError`` naming ``name``."""
    return check_real(value, name, low=0, high=1, open_low=True, open_high=True)


def check_positive_int(value, name: str) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``name`` if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(value, name: str) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``name`` if it is not an integer ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_rank(rank, shape, name: str = "rank") -> int:
    """``rank`` as an int in ``[1, min(m, n)]`` for a matrix of ``shape``, else ``ValueError``."""
    rank = check_positive_int(rank, name)
    limit = min(int(shape[-2]), int(shape[-1]))
    if rank > limit:
        raise ValueError(f"{name} must be at most min(m, n) = {limit} for shape {tuple(shape)}, got {rank}")
    return rank


def check_rtol(rtol, name: str = "rtol"):
    """``rtol`` as a float in ``[0, 1)``, or ``None`` (meaning :func:`default_rtol`)."""
    return None if rtol is None else check_real(rtol, name, low=0, high=1, open_high=True)


def resolve_rtol(rtol, m: int, n: int, dtype, name: str = "rtol") -> float:
    """``rtol`` checked by :func:`check_rtol`, or when ``None`` the :func:`default_rtol` of an
    ``m × n`` matrix stored in ``dtype``.

    Examples
    --------
    >>> resolve_rtol(None, 3, 4, "float32") == 4 * 2.0**-23, resolve_rtol(0.5, 3, 4, "float32")
    (True, 0.5)
    """
    rtol = check_rtol(rtol, name)
    return default_rtol(m, n, dtype) if rtol is None else rtol


def integer_argument(check, what: str):
    """An ``argparse`` type built from an integer check such as :func:`check_positive_int`.

    Parameters
    ----------
    check : callable
        ``check(value, name)`` → int, raising ``ValueError`` for a bad value.
    what : str
        What the option expects, for the usage error (``"positive integer"``).

    Returns
    -------
    callable
        ``parse(text)`` → the ``int`` that passes ``check``, else an
        ``argparse.ArgumentTypeError`` (a usage error naming the option).

    Examples
    --------
    >>> positive = integer_argument(check_positive_int, "positive integer")
    >>> positive("3")
    3
    >>> positive("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a positive integer, got '0'
    """

    def parse(text: str) -> int:
        try:
            return check(int(text), "the argument")
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what}, got {text!r}") from None

    return parse
