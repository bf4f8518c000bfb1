"""matsign — the matrix sign (polar factor) of gradient matrices and its cheap approximations."""

__version__ = "0.1.0"
