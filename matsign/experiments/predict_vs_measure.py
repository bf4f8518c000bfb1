r"""Predicted from σ alone against measured: every method family that declares a prediction.

Each cell runs a method on a matrix (gapless synthetic spectra and recorded gradients) and adds
what :func:`matsign.predict` says from the matrix's float64 singular values, its shape and the
precision it is handed to the method in, against the same exact sign as the engine's ``error``
(``reference="full"``: every singular value above ``max(m, n)·eps₆₄·σ₁``):

- ``prediction_kind`` — ``exact``, ``monte_carlo``, ``bound`` or ``none``;
- ``predicted_alignment``, ``predicted_error`` — the value or Monte-Carlo mean (NaN for a bound);
- ``predicted_alignment_low``/``_high``, ``predicted_error_low``/``_high`` — the band: the value
  itself, mean ∓ 2 standard deviations of one sketch, or the certified bounds.

The measured ``alignment`` and ``error`` should equal the exact predictions to rounding, lie
within 0.02 of the Monte-Carlo mean on average over seeds, and inside every bound; the
experiment's table says how tight each bound is (``predicted_*_high − measured`` and
``measured − predicted_*_low``) on real spectra.
"""

from __future__ import annotations

from matsign.experiments.engine import Extra
from matsign.experiments.runner import Experiment
from matsign.prediction import predict

NAME = "predict-vs-measure"

#: The extra columns, in table order.
COLUMNS = (
    "prediction_kind", "predicted_alignment", "predicted_alignment_low", "predicted_alignment_high",
    "predicted_error", "predicted_error_low", "predicted_error_high",
)


def predicted_columns(X, context, cell) -> dict:
    """The σ-only prediction of the cell's method on the cell's matrix (module docstring)."""
    p = predict(context.sigma, cell.method, shape=(cell.m, cell.n), reference="full",
                stored_dtype=cell.input_dtype, **dict(cell.method_params))
    return {
        "prediction_kind": p["kind"], "predicted_alignment": p["alignment"],
        "predicted_alignment_low": p["alignment_low"],
        "predicted_alignment_high": p["alignment_high"],
        "predicted_error": p["relative_error"], "predicted_error_low": p["relative_error_low"],
        "predicted_error_high": p["relative_error_high"],
    }


def figure(table, stem):
    """Draw the experiment's figure (:func:`matsign.plots.predict.predict_vs_measure_figure`)."""
    from matsign.plots.predict import predict_vs_measure_figure

    return predict_vs_measure_figure(table, stem)


EXPERIMENT = Experiment(
    name=NAME,
    description="alignment and error predicted from σ alone (exact, Monte-Carlo, bounds) vs "
    "measured, for every method family with a prediction",
    figure=figure,
    extra=Extra(COLUMNS, predicted_columns),
)
