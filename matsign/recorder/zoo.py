"""The gradient zoo: small recorded dumps in layouts of other projects' making, shipped with matsign.

Each member is what ``matsign record`` writes with the arguments in :data:`ZOO_COMMANDS`
(plus ``--out`` the member's directory), seed 0, on the CPU with :data:`RECORDED_WITH`;
``ZOO.md`` in each directory says how it was made. The layouts are described where they are written:

- ``gpt``: :func:`matsign.recorder.recording.record` with ``layout="foreign"`` — files
  ``gpt_stdlib_step{t}_grad.safetensors``, keys ``transformer.h.{i}.mlp.c_fc.weight.grad`` …;
- ``cnn``: :func:`matsign.recorder.cnn.record_cnn` — ``torch.save`` files
  ``cnn_optimizer_step{t:06d}.pt`` (an AdamW state dict), ``cnn_model_step{t:06d}.pt`` and
  ``cnn_grad_step{t:06d}.pt``, with 4-D convolution kernels;
- ``moe``: :func:`matsign.recorder.moe.record_moe` — sharded safetensors checkpoints with a
  ``model.safetensors.index.json`` in ``global_step{t}/``, keys ``model.layers.{i}.mlp.experts.w1.grad`` …
  holding 3-D expert stacks.

This module needs neither PyTorch nor scikit-learn.

Examples
--------
>>> sorted(ZOO), ZOO["moe"].name
(['cnn', 'gpt', 'moe'], 'moe')
>>> " ".join(ZOO_COMMANDS["cnn"])
'--model cnn --steps 200 --dump-steps 1,50,200'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RECORDED_WITH", "ZOO", "ZOO_COMMANDS", "ZOO_DIR"]

#: Directory of the shipped zoo.
ZOO_DIR = Path(__file__).resolve().parent.parent / "data" / "zoo"

#: The shipped dump of each member.
ZOO = {member: ZOO_DIR / member for member in ("gpt", "cnn", "moe")}

#: What the members were recorded with. Each of these changes the float32 summation order, and
#: so does the CPU itself beyond its kernel family (``torch.backends.cpu.get_cpu_capability()``:
#: an AVX-512 machine with AMX rounds otherwise than the recording one): the same command writes
#: the same bytes on one machine, while on another the first dump agrees to rounding and later
#: ones drift as training amplifies the differences.
RECORDED_WITH = {"torch": "2.13.0+cpu", "cpu_capability": "AVX512", "threads": 2}

#: The ``matsign record`` arguments (``--out`` aside) that recorded each member.
ZOO_COMMANDS = {
    "gpt": ("--model", "gpt", "--layout", "foreign", "--width", "64", "--depth", "2", "--heads", "4",
            "--context", "64", "--batch", "16", "--steps", "100", "--dump-steps", "1,25,100"),
    "cnn": ("--model", "cnn", "--steps", "200", "--dump-steps", "1,50,200"),
    "moe": ("--model", "moe", "--steps", "300", "--dump-steps", "1,100,300"),
}
