# TEMPORARY re-export for the merge
from matsign.transforms.slices import *  # noqa: F401,F403
from matsign.transforms.slices import __all__  # noqa: F401
