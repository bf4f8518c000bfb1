# TEMPORARY re-export for the merge
import matsign.methods  # noqa: F401  (registers main's methods first: METHODS keeps main's order)
from matsign.transforms.equilibration import *  # noqa: F401,F403
from matsign.transforms.equilibration import __all__  # noqa: F401
