r"""A small GPT-style decoder whose hidden weight matrices are the gradients the recorder dumps.

Token and learned position embeddings, ``depth`` pre-LayerNorm blocks

.. math:: h \leftarrow h + W_o\,\mathrm{attn}(W_{qkv}\,\mathrm{LN}(h)), \qquad
          h \leftarrow h + W_d\,\mathrm{GELU}(W_u\,\mathrm{LN}(h)),

with causal multi-head self-attention (``torch.nn.functional.scaled_dot_product_attention``) and
a 4× MLP, a final LayerNorm and an **untied** output head. Linear layers have no bias.

The **hidden weights** are the four matrices of every block — ``attn.qkv`` ``(3w, w)``,
``attn.out`` ``(w, w)``, ``mlp.up`` ``(4w, w)`` and ``mlp.down`` ``(w, 4w)``, stored as
``(out_features, in_features)`` — the parameters a Muon-type optimizer orthogonalizes. The
embeddings, the head and the LayerNorm gains and biases are not hidden weights.

References
----------
.. [1] A. Vaswani et al., "Attention is all you need", arXiv:1706.03762 (2017).
.. [2] A. Radford et al., "Language models are unsupervised multitask learners", OpenAI (2019)
   (GPT-2: pre-LayerNorm, residual projections initialized with std 0.02/√(2·depth)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from matsign._backend import check_positive_int
from matsign.recorder.data import VOCAB

__all__ = ["GPT", "GPTConfig", "hidden_weights"]

#: Standard deviation of the normal initialization of every weight matrix and embedding (GPT-2).
INIT_STD = 0.02


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a :class:`GPT`.

    Attributes
    ----------
    vocab : int
        Vocabulary size (256 for the byte-level tokenizer).
    width : int
        Residual width ``w``; a multiple of ``heads``.
    depth : int
        Number of transformer blocks.
    heads : int
        Attention heads per block.
    context : int
        Longest sequence the position embedding covers.

    Examples
    --------
    >>> GPTConfig(width=768, depth=12, heads=12, context=1024).width // 12
    64
    """

    vocab: int = VOCAB
    width: int = 128
    depth: int = 2
    heads: int = 4
    context: int = 128

    def __post_init__(self):
        for name in ("vocab", "width", "depth", "heads", "context"):
            check_positive_int(getattr(self, name), name)
        if self.width % self.heads:
            raise ValueError(f"width must be a multiple of heads, got width={self.width} and heads={self.heads}")


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused ``qkv`` projection and an ``out`` projection."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.width, 3 * config.width, bias=False)
        self.out = nn.Linear(config.width, config.width, bias=False)

    def forward(self, h):
        batch, length, width = h.shape
        q, k, v = self.qkv(h).split(width, dim=-1)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class MLP(nn.Module):
    """``down(GELU(up(h)))`` with a hidden width of ``4 · width``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.up = nn.Linear(config.width, 4 * config.width, bias=False)
        self.down = nn.Linear(4 * config.width, config.width, bias=False)

    def forward(self, h):
        return self.down(F.gelu(self.up(h)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: attention then MLP, each added to the residual stream."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.width)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.width)
        self.mlp = MLP(config)

    def forward(self, h):
        h = h + self.attn(self.ln1(h))
        return h + self.mlp(self.ln2(h))


class GPT(nn.Module):
    """GPT-style language model over ``config.vocab`` tokens.

    Parameters
    ----------
    config : GPTConfig
    generator : torch.Generator, optional
        CPU generator of the initialization (normal, std 0.02; ``attn.out``, ``mlp.down``
        ``0.02/√(2·depth)``; LayerNorms 1 and 0), in float32: one seed, one model on any device.

    Examples
    --------
    >>> model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16), generator=torch.Generator().manual_seed(0))
    >>> x = torch.zeros(3, 16, dtype=torch.long)
    >>> tuple(model(x).shape)
    (3, 16, 256)
    >>> loss = model(x, x)
    >>> abs(loss.item() - math.log(256)) < 0.1  # small weights: near-uniform predictions
    True
    """

    def __init__(self, config: GPTConfig, *, generator=None):
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab, config.width)
        self.position = nn.Embedding(config.context, config.width)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.ln_f = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.vocab, bias=False)
        residual_std = INIT_STD / math.sqrt(2 * config.depth)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    std = residual_std if name.endswith(("attn.out.weight", "mlp.down.weight")) else INIT_STD
                    nn.init.normal_(p, 0.0, std, generator=generator)

    def forward(self, idx, targets=None):
        """Logits ``(batch, length, vocab)`` of ``idx`` ``(batch, length)``; with ``targets``, the
        mean next-token cross-entropy instead (computed from float32 logits)."""
        length = idx.shape[1]
        if length > self.config.context:
            raise ValueError(f"idx has {length} tokens per row, more than the context of {self.config.context}")
        h = self.token(idx) + self.position(torch.arange(length, device=idx.device))
        for block in self.blocks:
            h = block(h)
        logits = self.head(self.ln_f(h))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def hidden_weights(model: GPT) -> dict:
    """The hidden weight matrices of ``model`` by parameter name, in block order.

    Returns
    -------
    dict of str to torch.nn.Parameter
        ``blocks.{i}.attn.qkv.weight``, ``blocks.{i}.attn.out.weight``, ``blocks.{i}.mlp.up.weight``,
        ``blocks.{i}.mlp.down.weight`` for every block ``i``.

    Examples
    --------
    >>> model = GPT(GPTConfig(width=32, depth=1, heads=2, context=16))
    >>> {name: tuple(p.shape) for name, p in hidden_weights(model).items()}
    {'blocks.0.attn.qkv.weight': (96, 32), 'blocks.0.attn.out.weight': (32, 32),
     'blocks.0.mlp.up.weight': (128, 32), 'blocks.0.mlp.down.weight': (32, 128)}
    """
    return {name: p for name, p in model.named_parameters() if name.startswith("blocks.") and p.ndim == 2}
