"""The one error every reader of :mod:`matsign.io` raises for a bad file."""

__all__ = ["DumpError"]


class DumpError(ValueError):
    """A dump file is corrupt, truncated, needs pickle, or holds something other than tensors."""
