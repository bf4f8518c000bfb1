"""Without PyTorch (or scikit-learn, for the CNN), pytest's doctest collection skips the modules of
this package that import it."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("torch") is None:
    collect_ignore = ["data.py", "model.py", "training.py", "recording.py", "optimizer.py", "cnn.py", "moe.py",
                      "foreign.py"]
elif importlib.util.find_spec("sklearn") is None:
    collect_ignore = ["cnn.py"]
