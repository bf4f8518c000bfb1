r"""A mixture-of-experts byte model whose expert weights are 3-D stacks, dumped as sharded safetensors.

:class:`MoE` predicts the byte that follows a window of ``context`` bytes of the standard
library's documentation (:func:`~matsign.recorder.data.load_corpus`). The window's byte
embeddings, concatenated, are projected to the residual width ``w``; each of ``depth`` layers adds

.. math:: h \leftarrow h + \sum_{e \in \mathrm{top}_k(R z)} g_e\, W_2^{(e)}\,\mathrm{GELU}(W_1^{(e)} z),
          \qquad z = \mathrm{LN}(h), \quad g = \mathrm{softmax}\big((R z)_{\mathrm{top}_k}\big),

a router ``R`` ``(E, w)`` choosing ``k`` of ``E`` experts per example (Shazeer et al.,
arXiv:1701.06538; Fedus et al., arXiv:2101.03961, without the load-balancing loss). The experts'
matrices are stored stacked, ``experts.w1`` ``(E, hidden, w)`` and ``experts.w2`` ``(E, w, hidden)``
(each member ``(out_features, in_features)``), as grouped-GEMM implementations keep them. A final
LayerNorm and an untied head give the logits. Unselected experts get exactly zero gradient
from an example (their gate is zero), so computing every expert densely changes no gradient.

:func:`record_moe` trains it with AdamW and, after the backward pass of each dump step ``t``,
writes every parameter's gradient, key ``{parameter name}.grad``, as a sharded safetensors
checkpoint with its index (:func:`~matsign.recorder.foreign.save_sharded`) in ``global_step{t}/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from matsign._backend import check_nonnegative_int, check_positive_int
from matsign.recorder.data import VOCAB, load_corpus
from matsign.recorder.foreign import save_sharded
from matsign.recorder.model import INIT_STD
from matsign.recorder.recording import checked_steps, derived_seeds
from matsign.recorder.training import make_optimizers, train

__all__ = ["MoE", "MoEConfig", "record_moe"]


@dataclass(frozen=True)
class MoEConfig:
    """Shape of a :class:`MoE`.

    Attributes
    ----------
    vocab, context, embedding : int
        Byte vocabulary, bytes per window and embedding width per byte.
    width, hidden : int
        Residual width ``w`` and each expert's hidden width.
    depth : int
        Mixture-of-experts layers.
    experts, top_k : int
        Experts ``E`` per layer and how many each example uses (``top_k ≤ experts``).

    Examples
    --------
    >>> MoEConfig(experts=8, top_k=2).experts
    8
    """

    vocab: int = VOCAB
    context: int = 16
    embedding: int = 16
    width: int = 64
    hidden: int = 128
    depth: int = 2
    experts: int = 4
    top_k: int = 2

    def __post_init__(self):
        for name in ("vocab", "context", "embedding", "width", "hidden", "depth", "experts", "top_k"):
            check_positive_int(getattr(self, name), name)
        if self.top_k > self.experts:
            raise ValueError(f"top_k must not exceed experts = {self.experts}, got {self.top_k}")


class Experts(nn.Module):
    """``E`` two-layer GELU MLPs stored as the stacks ``w1`` ``(E, hidden, w)`` and ``w2`` ``(E, w, hidden)``."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(config.experts, config.hidden, config.width))
        self.w2 = nn.Parameter(torch.empty(config.experts, config.width, config.hidden))

    def forward(self, z, gates):
        """``Σ_e gates[:, e] · w2[e] GELU(w1[e] z)`` for ``z`` ``(batch, w)`` and ``gates`` ``(batch, E)``."""
        hidden = F.gelu(torch.einsum("bw,ehw->beh", z, self.w1))
        return torch.einsum("be,bew->bw", gates, torch.einsum("beh,ewh->bew", hidden, self.w2))


class SparseMoEBlock(nn.Module):
    """Router and experts: top-k gating renormalized by a softmax over the chosen experts."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.top_k = config.top_k
        self.router = nn.Linear(config.width, config.experts, bias=False)
        self.experts = Experts(config)

    def forward(self, z):
        top = self.router(z).topk(self.top_k, dim=-1)
        gates = torch.zeros(z.shape[0], self.experts.w1.shape[0], dtype=z.dtype, device=z.device)
        return self.experts(z, gates.scatter(1, top.indices, F.softmax(top.values, dim=-1)))


class Layer(nn.Module):
    """``h + mlp(norm(h))``."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.width)
        self.mlp = SparseMoEBlock(config)

    def forward(self, h):
        return h + self.mlp(self.norm(h))


class Body(nn.Module):
    """Embeddings, input projection, layers and final norm (the ``model.`` prefix of the names)."""

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab, config.embedding)
        self.in_proj = nn.Linear(config.context * config.embedding, config.width, bias=False)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width)

    def forward(self, idx):
        h = self.in_proj(self.embed_tokens(idx).flatten(1))
        for layer in self.layers:
            h = layer(h)
        return self.norm(h)


class MoE(nn.Module):
    """The mixture-of-experts byte model of the module docstring.

    Parameters
    ----------
    config : MoEConfig
    generator : torch.Generator, optional
        CPU generator of the initialization: every matrix and stack normal with std 0.02
        (``experts.w2`` 0.02/√(2·depth)), LayerNorms 1 and 0.

    Examples
    --------
    >>> model = MoE(MoEConfig(), generator=torch.Generator().manual_seed(0))
    >>> {name: tuple(p.shape) for name, p in model.named_parameters() if "layers.0" in name}
    {'model.layers.0.norm.weight': (64,), 'model.layers.0.norm.bias': (64,),
     'model.layers.0.mlp.router.weight': (4, 64), 'model.layers.0.mlp.experts.w1': (4, 128, 64),
     'model.layers.0.mlp.experts.w2': (4, 64, 128)}
    >>> x = torch.zeros(3, 16, dtype=torch.long)
    >>> tuple(model(x).shape), abs(model(x, x).item() - math.log(256)) < 0.1
    ((3, 256), True)
    """

    def __init__(self, config: MoEConfig, *, generator=None):
        super().__init__()
        self.config = config
        self.model = Body(config)
        self.lm_head = nn.Linear(config.width, config.vocab, bias=False)
        residual_std = INIT_STD / math.sqrt(2 * config.depth)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim >= 2:
                    nn.init.normal_(p, 0.0, residual_std if name.endswith("experts.w2") else INIT_STD, generator=generator)

    def forward(self, idx, targets=None):
        """Logits ``(batch, vocab)`` of the byte after each window ``idx`` ``(batch, context)``;
        with ``targets`` (the windows shifted by one byte, as
        :meth:`~matsign.recorder.data.Corpus.get_batch` gives them), the mean cross-entropy of
        predicting their last byte instead."""
        if idx.shape[1] != self.config.context:
            raise ValueError(f"idx must have {self.config.context} bytes per row, got {idx.shape[1]}")
        logits = self.lm_head(self.model(idx))
        if targets is None:
            return logits
        return F.cross_entropy(logits, targets[:, -1])


def record_moe(out_dir="results/zoo/moe", *, config: MoEConfig = MoEConfig(), batch: int = 64, steps: int = 50,
               dump_steps=(1, 10, 50), lr: float | None = None, seed: int = 0, max_shard_bytes: int = 400_000,
               progress: bool = True, after_backward=None, after_step=None) -> Path:
    """Train :class:`MoE` with AdamW and write every gradient at ``dump_steps`` as sharded safetensors.

    Parameters
    ----------
    out_dir : str or Path
        Gets one directory ``global_step{t}`` per dump step.
    config : MoEConfig
    batch, steps : int
        Windows per step and number of steps.
    dump_steps : iterable of int
        Steps (in ``1 … steps``) whose gradients are written.
    lr : float, optional
        AdamW's learning rate (default 3e-3; betas (0.9, 0.95), no weight decay).
    seed : int
        Seeds the initialization and the batches.
    max_shard_bytes : int
        Largest shard (:func:`~matsign.recorder.foreign.save_sharded`).
    progress : bool
        Show a progress bar with the training loss.
    after_backward, after_step : callable, optional
        Extra hooks, as in :func:`matsign.recorder.recording.record`.

    Returns
    -------
    Path
        ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = record_moe(d, steps=2, dump_steps=(2,), progress=False)
    ...     print(sorted(str(p.relative_to(out)) for p in out.rglob("*")))
    ['global_step2', 'global_step2/model-00001-of-00002.safetensors',
     'global_step2/model-00002-of-00002.safetensors', 'global_step2/model.safetensors.index.json']
    """
    batch = check_positive_int(batch, "batch")
    steps, dump_steps = checked_steps(steps, dump_steps)
    seed = check_nonnegative_int(seed, "seed")
    max_shard_bytes = check_positive_int(max_shard_bytes, "max_shard_bytes")
    init_seed, data_seed = derived_seeds(seed)
    model = MoE(config, generator=torch.Generator().manual_seed(init_seed))
    optimizers = make_optimizers(model, "adamw", lr)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def dump_gradients(state):
        if state.step in dump_steps:
            grads = {f"{name}.grad": p.grad.detach().clone() for name, p in model.named_parameters()}
            save_sharded(out / f"global_step{state.step}", grads, max_shard_bytes=max_shard_bytes)

    train(model, optimizers, load_corpus(), steps=steps, batch=batch, generator=torch.Generator().manual_seed(data_seed),
          after_backward=[dump_gradients, *([after_backward] if after_backward else [])],
          after_step=[*([after_step] if after_step else [])], progress=progress, desc="record moe")
    return out
