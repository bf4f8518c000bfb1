"""TEMPORARY during the merge."""
from matsign.registry import METHODS, REQUIRED, Method, complete_params, get_method, register  # noqa: F401
