r"""Newton–Schulz in float64, float32, TF32, bfloat16 and float16, and the exact sign by four
routes, against κ.

Every schedule runs its own number of steps in each working precision on log-uniform spectra
of growing condition number κ; the exact sign (SVD, Gram eigendecomposition, Newton–Schulz to
convergence, QDWH) runs on the matrix stored in float64 and in float32. Errors are measured in float64 against the sign of
the float64 matrix, so a low-precision run pays for rounding the input as well as for its
arithmetic. On NumPy, bfloat16 and float16 are emulated by rounding the operands and results
of every product and stored combination (see :mod:`matsign._backend.precision`); on PyTorch
(``--backend torch``) they are native.

The question: where does each format's rounding, not the schedule's own polynomial error,
set the error — and which exact route keeps reference accuracy in float32 (the Gram route,
``exact_eigh``, squares κ; Newton–Schulz to convergence amplifies each product's rounding by up
to κ; QDWH and the SVD are backward stable)? Another grid (``--config``) may hold any method on
sources with a ``kappa`` (the figure's x axis).

References
----------
N. Amsel et al., *The Polar Express*, arXiv 2505.16932 (bfloat16 Newton–Schulz); N. J. Higham,
*Functions of Matrices*, SIAM 2008, ch. 8.
"""

from __future__ import annotations

from matsign.experiments.runner import Experiment, check_figure_separates

NAME = "precision"


def figure(table, stem):
    """Draw the experiment's figure (see :func:`matsign.plots.precision.precision_figure`)."""
    from matsign.plots.precision import precision_figure

    return precision_figure(table, stem)


def check_grid(cells):
    """The figure draws Newton–Schulz per schedule and working precision, the exact routes per
    method and input precision, each against κ."""
    check_figure_separates(
        cells,
        lambda cell: ("method", "schedule", "dtype", "kappa") if cell.method == "newton_schulz"
        else ("method", "input_dtype", "kappa"),
        NAME,
    )


EXPERIMENT = Experiment(
    name=NAME,
    description="Newton–Schulz in float64 / float32 / tfloat32 / bfloat16 / float16 and the exact sign "
    "by SVD, eigh, NS to convergence and QDWH from float64 / float32, vs κ",
    figure=figure,
    source_params=("kappa",),
    check_grid=check_grid,
)
