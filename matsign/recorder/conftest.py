"""Without PyTorch, pytest's doctest collection skips the modules of this package that import it."""

collect_ignore = []
try:
    import torch  # noqa: F401
except ModuleNotFoundError:
    collect_ignore = ["data.py", "model.py", "training.py", "recording.py", "optimizer.py"]
