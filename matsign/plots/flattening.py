"""Figure of the ways to read a kernel or an expert stack as matrices."""

from __future__ import annotations

import re

from matsign.io.tensors import CONV_LAYOUTS
from matsign.plots import ERROR_FLOOR, STYLE, configuration_columns, labelled_groups, method_label, pyplot, save

#: Colour per view.
VIEW_COLOURS = dict(zip(CONV_LAYOUTS, ("C0", "C1", "C2")))
_HATCHES = ("", "//", "..", "xx")


def _tensor_title(setting) -> str:
    """The stored tensor a row stands for (a stack member's name without its index)."""
    name = re.sub(r"\[\d+(,\d+)*\]$", "", setting["tensor"])
    return f"{name}\n{setting['kind']}, step {int(setting['step'])}"


def flattening_figure(table, stem):
    """Cosine with the gradient, error against the exact signs, and flops, per tensor and view.

    Parameters
    ----------
    table : pandas.DataFrame
        The flattening sweep's table (:mod:`matsign.experiments.flattening`).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Bars grouped by tensor: a colour per view (``out``, ``in``, ``spatial``), a hatch per method
    setting. Rows: ``cosine_V``, ``error_V`` (log; at most 1e-16 drawn there), ``flops_V`` (log).
    """
    plt = pyplot()
    matrix_columns, method_columns = configuration_columns(table)
    tensors = labelled_groups(table, matrix_columns, _tensor_title)
    methods = [label for _, label, _ in labelled_groups(table, method_columns, lambda s: method_label(s["method"], s))]
    width = 0.8 / (len(CONV_LAYOUTS) * len(methods))
    shown = (("cosine", r"cosine $\langle T, X\rangle / (\|T\|_F \|X\|_F)$", False),
             ("error", "error vs exact signs\nof the same matrices", True), ("flops", "flops", True))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 1.3 * len(tensors) + 2), 7.5), sharex=True,
                                 layout="constrained")
        for x, (_, _, rows) in enumerate(tensors):
            for j, (_, _, cells) in enumerate(labelled_groups(rows, method_columns, str)):
                means = cells.mean(numeric_only=True)
                for i, view in enumerate(CONV_LAYOUTS):
                    offset = x - 0.4 + width * (j * len(CONV_LAYOUTS) + i + 0.5)
                    for ax, (what, _, log) in zip(axes, shown):
                        value = means[f"{what}_{view}"]
                        ax.bar(offset, max(value, ERROR_FLOOR) if log else value, width, color=VIEW_COLOURS[view],
                               hatch=_HATCHES[j % len(_HATCHES)], edgecolor="0.2", lw=0.4)
        for ax, (_, label, log) in zip(axes, shown):
            ax.set_ylabel(label)
            if log:
                ax.set_yscale("log")
        axes[2].set_xticks(range(len(tensors)), [title for _, title, _ in tensors], rotation=30, ha="right",
                           fontsize=7)
        handles = [plt.Rectangle((0, 0), 1, 1, color=colour, label=view) for view, colour in VIEW_COLOURS.items()]
        handles += [plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="0.2", hatch=_HATCHES[j % len(_HATCHES)],
                                  label=label) for j, label in enumerate(methods)]
        axes[0].legend(handles=handles, ncol=len(handles), loc="lower left", bbox_to_anchor=(0.0, 1.02))
        fig.suptitle("Reading a kernel or an expert stack as matrices: out / in / spatial")
        path = save(fig, stem)
        plt.close(fig)
    return path
