"""Figure of ``matsign advise``: predicted against measured alignment, flop saving per matrix."""

from __future__ import annotations

import numpy as np

from matsign.plots import STYLE, pyplot, save

#: Marker colour per role.
ROLE_COLOURS = {"chosen": "C0", "runner-up": "C1", "reference": "C2"}


def advice_figure(table, stem) -> list:
    """Predicted vs measured alignment (when measured) and the chosen method's flop saving.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`matsign.experiments.advice.advise_dump`.
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    list of pathlib.Path
        The PNG path.

    Notes
    -----
    Left (only with measured values): one point per (matrix, role) at the predicted alignment
    (the conservative lower end as the bar's bottom, the value or mean as the point; a bound
    shows its bar alone) against the measured one; the target as dashed lines. Right: the
    chosen method's flop saving against 5-step Newton–Schulz, one bar per matrix, labelled
    with the method and its parameters.
    """
    plt = pyplot()
    rows = table[table["role"].isin(tuple(ROLE_COLOURS))]
    chosen = rows[rows["role"] == "chosen"].reset_index(drop=True)
    measured = "measured_alignment" in rows
    with plt.rc_context(STYLE):
        width = 2 if measured else 1
        fig, axes = plt.subplots(1, width, figsize=(5.2 * width, 0.3 * len(chosen) + 3.0),
                                 squeeze=False, layout="constrained")
        if measured:
            ax = axes[0, 0]
            for role, colour in ROLE_COLOURS.items():
                d = rows[rows["role"] == role]
                if d.empty:
                    continue
                low = d["predicted_alignment_low"]
                value = d["predicted_alignment"].fillna(low)
                ax.errorbar(d["measured_alignment"], value,
                            yerr=[np.maximum(value - low, 0.0), np.zeros(len(d))],
                            fmt="o", ms=4, color=colour, capsize=2, label=role)
            ends = np.r_[rows["measured_alignment"], rows["predicted_alignment_low"].clip(0)]
            lo = float(np.nanmin(ends))
            ax.plot([lo, 1], [lo, 1], "-", color="0.6", lw=1)
            if rows["target"].iloc[0] == "alignment":
                target = rows["target_value"].iloc[0]
                ax.axvline(target, ls="--", color="black", lw=1)
                ax.axhline(target, ls="--", color="black", lw=1, label=f"target {target:g}")
            ax.set_xlabel(r"measured alignment $\langle G, X\rangle / \|G\|_*$")
            ax.set_ylabel("predicted alignment (bar: down to the conservative end)")
            ax.legend(loc="lower right")
        ax = axes[0, -1]
        labels = [f"{r['name']} ({r['kind']}, step {r['step']})" for _, r in chosen.iterrows()]
        ax.barh(np.arange(len(chosen)), chosen["flop_saving"], color="C0")
        for i, r in chosen.iterrows():
            setting = r["setting"] if isinstance(r["setting"], str) and r["setting"] else ""
            text = f"{r['method']} ({setting})" if setting else r["method"]
            ax.text(0.01, i, text, va="center", fontsize=6,
                    color="white" if r["flop_saving"] > 0.3 else "black")
        ax.set_yticks(np.arange(len(chosen)), labels, fontsize=6)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("flop saving of the chosen method vs 5-step Newton–Schulz")
        target, value = rows["target"].iloc[0], rows["target_value"].iloc[0]
        fig.suptitle(f"matsign advise: target {target} {value:g}, "
                     f"reference {rows['reference'].iloc[0]}")
        path = save(fig, stem)
        plt.close(fig)
    return [path]
