r"""Record the gradients and optimizer momenta of a GPT trained on the standard library's docs.

:func:`record` trains a :class:`~matsign.recorder.model.GPT` on
:func:`~matsign.recorder.data.load_corpus` with Muon or AdamW and, at each dump step ``t``,
writes for every hidden weight ``W`` (:func:`~matsign.recorder.model.hidden_weights`):

- ``grad/{name}``: ``∇_W f_t(θ_{t−1})``, the ``.grad`` after the backward pass of step ``t`` and
  before the optimizer step — the mini-batch gradient itself;
- ``momentum/{name}``: the optimizer's momentum after step ``t``, which includes this step's
  gradient, ``M_t = β M_{t−1} + (1 − β) G_t`` (Muon's ``momentum_buffer``, β = 0.95, or AdamW's
  ``exp_avg``, β = 0.9).

Tensors keep the training dtype (float32 or bfloat16) and the parameter's layout
``(out_features, in_features)``, one file ``step-{t:06d}.{ext}`` per dump step, beside a
``manifest.json`` (:mod:`matsign.io` reads both back). With ``dtype="bfloat16"`` the parameters,
activations, gradients and optimizer states are all bfloat16 (the loss is taken from float32
logits). ``layout="foreign"`` writes the gradients of every parameter in a layout of another
project's making instead (:func:`record`), for the gradient zoo (:mod:`matsign.recorder.zoo`).
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from matsign._backend import check_choice, check_nonnegative_int, check_positive_int
from matsign.io import write_manifest, write_step
from matsign.recorder.data import load_corpus
from matsign.recorder.foreign import nanogpt_name, save_safetensors
from matsign.recorder.model import GPT, GPTConfig, hidden_weights
from matsign.recorder.training import (
    OPTIMIZERS,
    evaluate,
    make_optimizers,
    momentum_of,
    optimizer_settings,
    train,
)

__all__ = ["DTYPES", "FORMATS", "LAYOUTS", "checked_device", "checked_steps", "derived_seeds", "record"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
FORMATS = ("safetensors", "npz", "pt")
KINDS = ("grad", "momentum")
LAYOUTS = ("matsign", "foreign")


def derived_seeds(seed: int) -> tuple[int, int]:
    """Independent seeds for the initialization and the batches, derived from ``seed``."""
    init, data = np.random.SeedSequence(seed).spawn(2)
    return int(init.generate_state(1)[0]), int(data.generate_state(1)[0])


def _host_copy(t):
    return t.detach().to("cpu", copy=True)


def record(out_dir="results/recorded", *, width: int = 128, depth: int = 2, heads: int = 4, context: int = 128,
           batch: int = 16, steps: int = 50, dump_steps=(1, 10, 50), optimizer: str = "muon",
           lr: float | None = None, dtype: str = "float32", format: str = "safetensors", seed: int = 0,
           device: str = "cpu", layout: str = "matsign", progress: bool = True, after_backward=None,
           after_step=None) -> Path:
    """Train a GPT and dump the gradient and momentum of every hidden weight at ``dump_steps``.

    Parameters
    ----------
    out_dir : str or Path
        Directory for ``manifest.json`` and the ``step-*`` files (created if missing).
    width, depth, heads, context : int
        The model (:class:`~matsign.recorder.model.GPTConfig`); GPT-2 small is
        ``width=768, depth=12, heads=12, context=1024``.
    batch, steps : int
        Windows per step and number of steps.
    dump_steps : iterable of int
        Steps (in ``1 … steps``) whose gradients and momenta are written.
    optimizer : {"muon", "adamw"}
        See :func:`~matsign.recorder.training.make_optimizers`.
    lr : float, optional
        Learning rate of Muon or AdamW; default 0.02 or 3e-3.
    dtype : {"float32", "bfloat16"}
        Precision of the parameters, the computation and the dumps.
    format : {"safetensors", "npz", "pt"}
        File format of the dumps (``npz`` holds no bfloat16).
    seed : int
        Seeds the initialization and the batches (through independent derived streams).
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; the model is initialized on the CPU, so a seed
        gives the same initial weights and batches on every device.
    layout : {"matsign", "foreign"}
        ``"matsign"``: the layout of :mod:`matsign.io` (module docstring). ``"foreign"``: what a
        nanoGPT-style script that saves its gradients leaves behind — one file
        ``gpt_stdlib_step{t}_grad.safetensors`` per dump step (the step in the file name only,
        unpadded) holding the gradient of **every** parameter (embeddings, LayerNorms and head
        included) under its nanoGPT name plus ``.grad``
        (:func:`~matsign.recorder.foreign.nanogpt_name`, e.g. ``transformer.h.0.mlp.c_fc.weight.grad``),
        no momenta and no manifest; ``format`` must be ``"safetensors"``.
    progress : bool
        Show a progress bar with the training loss.
    after_backward, after_step : callable, optional
        Extra hooks, called after the recorder's own as ``hook(TrainStep)`` (see
        :func:`~matsign.recorder.training.train`), e.g. to inspect gradients while they are recorded.

    Returns
    -------
    Path
        ``out_dir``. Its manifest records the model configuration, seed, optimizer and its
        hyperparameters, steps, dump steps, format, the layers (name, shape, dtype), the data,
        the versions of matsign, torch and Python, every step's training loss, and the final
        training and validation losses (``layout="matsign"`` only).

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = record(d, width=32, depth=1, heads=2, context=16, batch=2, steps=2, dump_steps=(2,),
    ...                  progress=False)
    ...     manifest = json.loads((out / "manifest.json").read_text())
    ...     print(sorted(p.name for p in out.iterdir()))
    ['manifest.json', 'step-000002.safetensors']
    >>> manifest["dump_steps"], [layer["shape"] for layer in manifest["layers"]]
    ([2], [[96, 32], [32, 32], [128, 32], [32, 128]])
    """
    config = GPTConfig(width=width, depth=depth, heads=heads, context=context)
    batch, steps, seed, dump_steps, device = _checked(batch, steps, seed, dump_steps, optimizer, dtype, format, device)
    check_choice(layout, LAYOUTS, "layout")
    if layout == "foreign" and format != "safetensors":
        raise ValueError(f"layout='foreign' writes safetensors files only, got format={format!r}")
    init_seed, data_seed = derived_seeds(seed)
    corpus = load_corpus()
    model = GPT(config, generator=torch.Generator().manual_seed(init_seed)).to(device=device, dtype=DTYPES[dtype])
    optimizers = make_optimizers(model, optimizer, lr)
    hidden = hidden_weights(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if layout == "matsign":
        dump_gradients, dump_momenta = _dump_hooks(out, hidden, optimizers, set(dump_steps), format)
        own_after_step = [dump_momenta]
    else:
        dump_gradients, own_after_step = _foreign_dump_hook(out, model, set(dump_steps)), []
    start = time.perf_counter()
    losses = train(
        model, optimizers, corpus, steps=steps, batch=batch, generator=torch.Generator().manual_seed(data_seed),
        after_backward=[dump_gradients, *([after_backward] if after_backward else [])],
        after_step=[*own_after_step, *([after_step] if after_step else [])],
        progress=progress, desc=f"record {width}x{depth}",
    )
    seconds = time.perf_counter() - start
    if layout == "foreign":
        return out
    write_manifest(out, {
        **_run_description(model, config, corpus, optimizers, optimizer, hidden, dtype),
        "seed": seed, "steps": steps, "batch": batch, "dump_steps": dump_steps, "format": format,
        "device": str(device), "train_loss": losses,
        "final_train_loss": evaluate(model, corpus, split="train", batch=batch),
        "final_validation_loss": evaluate(model, corpus, split="validation", batch=batch),
        "seconds": seconds,
    })
    return out


def _checked(batch, steps, seed, dump_steps, optimizer, dtype, format, device):
    """The checked ``batch, steps, seed``, the sorted distinct ``dump_steps`` and the
    ``torch.device``; a ``ValueError`` naming the first bad argument."""
    batch = check_positive_int(batch, "batch")
    steps, dump_steps = checked_steps(steps, dump_steps)
    seed = check_nonnegative_int(seed, "seed")
    check_choice(optimizer, OPTIMIZERS, "optimizer")
    check_choice(dtype, DTYPES, "dtype")
    check_choice(format, FORMATS, "format")
    if format == "npz" and dtype == "bfloat16":
        raise ValueError("format='npz' cannot hold bfloat16 tensors; use format='safetensors' or 'pt'")
    return batch, steps, seed, dump_steps, checked_device(device)


def checked_device(device):
    """``torch.device(device)``; a ``ValueError`` for a name PyTorch does not know, or for CUDA
    where PyTorch finds none."""
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but PyTorch finds no CUDA device")
    return device


def checked_steps(steps, dump_steps) -> tuple[int, list]:
    """The checked number of ``steps`` and the sorted distinct ``dump_steps``, which must lie in ``1 … steps``."""
    steps = check_positive_int(steps, "steps")
    dump_steps = sorted({check_positive_int(s, "dump_steps") for s in dump_steps})
    if dump_steps and dump_steps[-1] > steps:
        raise ValueError(f"dump_steps must lie in 1 … steps = {steps}, got {dump_steps[-1]}")
    return steps, dump_steps


def _dump_hooks(out: Path, hidden: dict, optimizers, dump_steps: set, format: str):
    """The two training hooks of a dump: one keeps host copies of the gradients after the
    backward pass of a dump step, the other writes them with the momenta after its optimizer step."""
    grads = {}

    def dump_gradients(state):
        if state.step in dump_steps:
            grads.update({f"grad/{name}": _host_copy(p.grad) for name, p in hidden.items()})

    def dump_momenta(state):
        if state.step in dump_steps:
            momenta = {f"momentum/{name}": _host_copy(momentum_of(optimizers, p)) for name, p in hidden.items()}
            write_step(out, state.step, {**grads, **momenta}, format=format)
            grads.clear()

    return dump_gradients, dump_momenta


def _foreign_dump_hook(out: Path, model, dump_steps: set):
    """The training hook of ``layout="foreign"``: every parameter's gradient under its nanoGPT
    name plus ``.grad``, one safetensors file per dump step, written after the backward pass."""

    def dump_gradients(state):
        if state.step in dump_steps:
            grads = {f"{nanogpt_name(name)}.grad": _host_copy(p.grad) for name, p in model.named_parameters()}
            save_safetensors(out / f"gpt_stdlib_step{state.step}_grad.safetensors", grads)

    return dump_gradients


def _run_description(model, config: GPTConfig, corpus, optimizers, optimizer: str, hidden: dict, dtype: str) -> dict:
    """The manifest's description of the model, optimizer, layers, data and versions."""
    import matsign

    settings = optimizer_settings(optimizers[0])
    if optimizer == "muon":
        settings["other_parameters"] = optimizer_settings(optimizers[1])
    return {
        "description": "gradients (before the optimizer step) and optimizer momenta (after it) of the hidden "
                       "weights of a GPT trained on the Python documentation (pydoc_data.topics)",
        "model": {**asdict(config), "tied_head": False, "parameters": sum(p.numel() for p in model.parameters())},
        "optimizer": settings,
        "kinds": list(KINDS),
        "dtype": dtype,
        "layers": [{"name": name, "shape": list(p.shape), "dtype": dtype} for name, p in hidden.items()],
        "data": {"source": "pydoc_data.topics", "tokenizer": "utf-8 bytes", "vocab": config.vocab,
                 "train_tokens": corpus.train.numel(), "validation_tokens": corpus.validation.numel()},
        "versions": {"matsign": matsign.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    }
