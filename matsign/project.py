# TEMPORARY re-export for the merge
from matsign.transforms.projection import *  # noqa: F401,F403
from matsign.transforms.projection import __all__  # noqa: F401
