"""The gradient zoo's spectra side by side (the tables of
:func:`matsign.experiments.spectra.analyse_zoo`)."""

from __future__ import annotations

import numpy as np

from matsign.plots import STYLE, pyplot, save

__all__ = ["zoo_spectra_figure"]


def zoo_spectra_figure(table, singular_values, stem):
    """Normalized singular values of the zoo's matrices; each layer's stable and effective rank.

    Parameters
    ----------
    table, singular_values : pandas.DataFrame
        The two tables of :func:`matsign.experiments.spectra.analyse_zoo` (a ``member`` column).
    stem : path-like
        Writes ``stem.png`` and ``stem.pdf``.

    Returns
    -------
    pathlib.Path
        The PNG path.

    Notes
    -----
    Left: σ_i/σ₁ against i/r (r = min(m, n)) for each matrix at its layer's last step, one line
    per matrix, coloured by member, so matrices of different shapes share the axes; σ_i below the
    numerical rank (rounding noise, :mod:`matsign.spectral`) are left out. Right, at
    the same steps: the stable rank ‖G‖_F²/‖G‖₂² (filled) and the effective rank
    exp(entropy of σ/Σσ) (hollow), each divided by r, per layer in the dump's order.
    """
    plt = pyplot()

    members = list(dict.fromkeys(table["member"]))
    colours = {member: f"C{i}" for i, member in enumerate(members)}
    latest = table.groupby(["member", "kind", "name"])["step"].transform("max")
    last = table[table["step"] == latest]
    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(13.0, 4.8), layout="constrained",
                                          gridspec_kw={"width_ratios": [1, 1.6]})
        rank = last.set_index(["member", "kind", "name"])["numerical_rank"]
        for key, sigma in singular_values.groupby(["member", "kind", "name"], sort=False):
            s = sigma["singular_value"].to_numpy()
            x = np.arange(1, s.size + 1) / s.size
            nonzero = slice(0, int(rank[key]))  # below the numerical rank: rounding noise
            left.plot(x[nonzero], s[nonzero] / s[0], "-", color=colours[key[0]], lw=0.9, alpha=0.7)
        for member in members:
            left.plot([], [], "-", color=colours[member], label=member)
        left.set_yscale("log")
        left.set_xlabel("i / r   (r = min(m, n))")
        left.set_ylabel(r"$\sigma_i / \sigma_1$")
        left.set_title("singular values, each matrix at its last step")
        left.legend()
        position = 0
        ticks, labels = [], []
        for member in members:
            rows = last[last["member"] == member]
            x = position + np.arange(len(rows))
            r = rows[["m", "n"]].min(axis=1).to_numpy()
            right.plot(x, rows["stable_rank"] / r, "o", color=colours[member], ms=5,
                       label=f"{member}: stable rank / r")
            right.plot(x, rows["effective_rank"] / r, "o", color=colours[member], ms=5, mfc="none",
                       label=f"{member}: effective rank / r")
            ticks += list(x)
            labels += list(rows["name"])
            position += len(rows) + 1
        right.set_xticks(ticks, labels, rotation=90, fontsize=6)
        right.set_yscale("log")
        right.set_ylabel("rank / r")
        right.set_title("per layer (filled: stable rank, hollow: effective rank)")
        right.set_ylim(top=3.0)  # room for the legend above the points
        right.legend(fontsize=7, ncol=len(members), loc="upper center")
        fig.suptitle("The gradient zoo: gradient spectra of gpt, cnn and moe")
        path = save(fig, stem)
        plt.close(fig)
    return path
