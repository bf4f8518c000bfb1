"""Figure of the sign of shards taken separately against the whole-matrix sign."""

from __future__ import annotations

import re

from matsign.plots import (
    ERROR_FLOOR,
    STYLE,
    configuration_columns,
    labelled_groups,
    log_axes,
    method_label,
    pyplot,
    save,
    source_label,
)

_STYLES = ("o-", "s--", "^:", "D-.")


def shards_figure(table, stem):
    """Error against ``msign(G)`` and alignment against the shard count, row and column shards.

    Parameters
    ----------
    table : pandas.DataFrame
        The shards sweep's table (:mod:`matsign.experiments.shards`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Columns: row shards, column shards. Rows: error against ``msign(G)``, alignment
    ``⟨G, X⟩/(‖G‖_*‖X‖₂)``, spectral norm ``‖X‖₂``. A colour per matrix, a line style per
    method setting; ``k = 1`` is the method on the whole matrix.
    """
    shard_axes, counts = _shard_grid(table.columns)
    plt = pyplot()
    matrix_columns, method_columns = configuration_columns(table)
    matrices = labelled_groups(table, matrix_columns, lambda s: f"{source_label(s)} {int(s['m'])}×{int(s['n'])}")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 2, figsize=(9.0, 8.0), sharex=True, sharey="row", layout="constrained")
        for colour, (_, matrix, rows) in enumerate(matrices):
            methods = labelled_groups(rows, method_columns, lambda s: method_label(s["method"], s))
            for style, (_, method, cells) in enumerate(methods):
                means = cells.mean(numeric_only=True)
                for column, axis in enumerate(shard_axes):
                    for row, what in enumerate(("error", "alignment", "norm")):
                        values = [means[f"{what}_{axis}_{k}"] for k in counts]
                        if what == "error":
                            values = [max(v, ERROR_FLOOR) for v in values]
                        axes[row, column].plot(counts, values, _STYLES[style % len(_STYLES)], color=f"C{colour}",
                                               ms=3, lw=1, label=f"{matrix}, {method}")
        for column, axis in enumerate(shard_axes):
            axes[0, column].set_title(f"{'row' if axis == 'rows' else 'column'} shards")
            log_axes(axes[0, column], x=True)
            axes[2, column].set_xlabel("shards k (1: whole matrix)")
            axes[2, column].set_xticks(counts, [str(k) for k in counts])
        axes[0, 0].set_ylabel("error vs msign(G)")
        axes[1, 0].set_ylabel(r"alignment $\langle G, X\rangle / (\|G\|_* \|X\|_2)$")
        axes[2, 0].set_ylabel(r"spectral norm $\|X\|_2$")
        axes[0, 1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6)
        fig.suptitle("Sign of each shard vs sign of the whole matrix")
        path = save(fig, stem)
        plt.close(fig)
    return path


def _shard_grid(columns) -> tuple[tuple, list]:
    """The shard axes (in column order) and shard counts (ascending) of the table's
    ``error_<axis>_<k>`` columns."""
    found = [m for m in map(re.compile(r"error_(\w+?)_(\d+)").fullmatch, columns) if m]
    return tuple(dict.fromkeys(m[1] for m in found)), sorted({int(m[2]) for m in found})
