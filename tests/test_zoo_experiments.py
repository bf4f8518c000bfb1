"""The gradient zoo through the experiments: ``matsign spectra`` on each member, ``matsign
zoo-spectra``, the ``recorded`` sweep source reading an optimizer state with the model's names,
a convolution kernel and an expert stack, and the zoo configs in ``experiments/``.

Every expected matrix is read here with the library that wrote it (``safetensors.numpy``,
``torch.load``), not through :mod:`matsign.io`, and every expected number comes from a float64
NumPy SVD of that matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matsign.cli import main
from matsign.io import load_gradients
from matsign.recorder.zoo import ZOO

pd = pytest.importorskip("pandas")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

ROOT = Path(__file__).resolve().parents[1]
CNN_NAMES = ZOO["cnn"] / "cnn_model_step000200.pt"


def _gpt_c_fc():
    path = ZOO["gpt"] / "gpt_stdlib_step100_grad.safetensors"
    return safetensors_numpy.load_file(path)["transformer.h.1.mlp.c_fc.weight.grad"]


def _moe_stack(name: str):
    folder = ZOO["moe"] / "global_step300"
    shard = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"][name]
    return safetensors_numpy.load_file(folder / shard)[name]


def _cnn(file: str):
    torch = pytest.importorskip("torch")
    return torch.load(ZOO["cnn"] / file, weights_only=True)


#: (member, name, kind, step, the matrix as its writer's library reads it)
EXPECTED = {
    "gpt": ("transformer.h.1.mlp.c_fc.weight", "grad", 100, _gpt_c_fc),
    "moe": ("model.layers.1.mlp.experts.w2[3]", "grad", 300,
            lambda: _moe_stack("model.layers.1.mlp.experts.w2.grad")[3]),
    "cnn": ("conv2.weight", "grad", 200,
            lambda: _cnn("cnn_grad_step000200.pt")["conv2.weight"].numpy().reshape(16, 72)),
}


def _spectral_norm_and_stable_rank(G):
    s = np.linalg.svd(np.asarray(G, dtype=np.float64), compute_uv=False)
    return s[0], float(np.sum(s**2) / s[0] ** 2)


@pytest.mark.parametrize("member", sorted(ZOO))
def test_matsign_spectra_reads_every_matrix_of_each_zoo_member(member, tmp_path, capsys):
    name, kind, step, expected = EXPECTED[member]
    if member == "cnn":
        pytest.importorskip("torch")
    code = main(["spectra", str(ZOO[member]), "--out", str(tmp_path / "out"), "--figures",
                 str(tmp_path / "figures"), "--ranks", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "out" / "spectra.csv")
    listed = {(r.name, r.kind, r.step) for r in load_gradients(ZOO[member])}
    assert len(table) == len(listed)
    assert set(zip(table["name"], table["kind"], table["step"])) == listed
    G = expected()
    row = table[(table["name"] == name) & (table["kind"] == kind) & (table["step"] == step)]
    assert row[["m", "n"]].values.tolist() == [list(G.shape)]
    sigma1, stable_rank = _spectral_norm_and_stable_rank(G)
    # Both are float64 SVDs of the same float32 entries: they agree to a few float64 ulps.
    assert row["spectral_norm"].item() == pytest.approx(sigma1, rel=1e-12)
    assert row["stable_rank"].item() == pytest.approx(stable_rank, rel=1e-10)


def test_zoo_spectra_draws_every_member(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("torch")
    code = main(["zoo-spectra", "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "figs"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "figs" / "zoo-spectra.png").stat().st_size > 0
    assert (tmp_path / "figs" / "zoo-spectra.pdf").stat().st_size > 0
    table = pd.read_csv(tmp_path / "out" / "zoo-spectra.csv")
    assert set(table["member"]) == set(ZOO) and set(table["kind"]) == {"grad"}
    for member, (name, _, step, expected) in EXPECTED.items():
        row = table[(table["member"] == member) & (table["name"] == name) & (table["step"] == step)]
        stable_rank = _spectral_norm_and_stable_rank(expected())[1]
        assert row["stable_rank"].item() == pytest.approx(stable_rank, rel=1e-10)
    values = pd.read_csv(tmp_path / "out" / "zoo-spectra-singular-values.csv")
    name, _, _, expected = EXPECTED["moe"]
    sigma = values[(values["member"] == "moe") & (values["name"] == name)]["singular_value"]
    G = np.asarray(expected(), dtype=np.float64)
    np.testing.assert_allclose(sigma, np.linalg.svd(G, compute_uv=False), rtol=1e-10,
                               atol=1e-12 * np.linalg.norm(G, 2))


def test_recorded_source_reads_an_optimizer_state_with_the_models_names():
    torch = pytest.importorskip("torch")
    from matsign.registry import get_source

    source = get_source("recorded")
    path = str(ZOO["cnn"])
    momentum = source(0, 0, rng=0, tensor="fc1.weight", step=200, kind="momentum", path=path,
                               names=str(CNN_NAMES))
    names = list(torch.load(CNN_NAMES, weights_only=True))
    state = torch.load(ZOO["cnn"] / "cnn_optimizer_step000200.pt", weights_only=True)["state"]
    expected = state[names.index("fc1.weight")]["exp_avg"].numpy()
    assert momentum.dtype == np.float64
    np.testing.assert_array_equal(momentum, expected.astype(np.float64))  # float32 → 64 is exact
    kernel = _cnn("cnn_grad_step000200.pt")["conv2.weight"].numpy()
    by_in = source(0, 0, rng=0, tensor="conv2.weight", step=200, kind="grad", path=path,
                            conv="in")
    np.testing.assert_array_equal(by_in, kernel.transpose(1, 0, 2, 3).reshape(8, 144))


def test_recorded_source_reads_an_expert_of_a_sharded_checkpoint():
    from matsign.registry import get_source

    G = get_source("recorded")(0, 0, rng=0, tensor="model.layers.0.mlp.experts.w1[2]", step=300,
                                        path=str(ZOO["moe"]))
    stack = _moe_stack("model.layers.0.mlp.experts.w1.grad")
    np.testing.assert_array_equal(G, stack[2].astype(np.float64))


@pytest.mark.parametrize("config", sorted((ROOT / "experiments").glob("*-zoo-*.toml")),
                         ids=lambda p: p.stem)
def test_zoo_configs_build_their_grids(config, monkeypatch):
    """Every zoo config parses and each of its cells names a matrix the zoo holds."""
    from matsign.experiments.config import load_config
    from matsign.experiments.grid import build_cells

    if "cnn" in config.stem:
        pytest.importorskip("torch")
    monkeypatch.chdir(ROOT)  # the configs' paths are relative to the repository root
    cells = build_cells(load_config(config))
    assert len(cells) <= 500  # a grid that runs in a minute or two on two cores
    assert {c.source for c in cells} == {"recorded"}
