"""Gradient dumps: writing them from a training loop, and reading them back safely and lazily.

A dump is a directory holding

- ``manifest.json`` — free-form JSON from the producer (model configuration, seed, steps, layer
  names, shapes, dtypes, format); see :func:`write_manifest` for the one entry read back;
- ``step-{step:06d}.{ext}`` — one file per recorded step (``.safetensors``, ``.npz`` or ``.pt``)
  holding tensors keyed ``"{kind}/{name}"``, kind ``"grad"`` or ``"momentum"``, name the
  parameter's name (``"blocks.0.attn.qkv.weight"``).

:func:`write_step` and :func:`write_manifest` write one; :func:`load_gradients` lists any file or
directory of ``.safetensors``/``.npz``/``.npy``/``.pt`` files as :class:`GradientRecord` objects
whose ``load()`` reads one matrix. It also reads what other tools write: foreign key and file
names (step, kind and name inferred, or set by a layout: :mod:`matsign.io.layout`), PyTorch
optimizer state dicts (:mod:`matsign.io.state_dict`), sharded safetensors checkpoints with their
``*.safetensors.index.json`` (:mod:`matsign.io.sharded`), and convolution kernels and stacks of
matrices read as matrices (:mod:`matsign.io.tensors`). Files from outside are untrusted: nothing is unpickled
(``allow_pickle=False``, ``torch.load(weights_only=True)``), safetensors headers are parsed and
bounds-checked here, and a bad file raises :class:`DumpError` naming it. Reading safetensors
needs neither ``safetensors`` nor ``torch``; bfloat16 needs ``ml-dtypes`` (``matsign[io]``),
``.pt`` files need PyTorch (``matsign[torch]``).

Importing the package declares the ``recorded`` sweep source (:mod:`matsign.io.source`): one
matrix of a dump as a test matrix.
"""

from matsign.io.dump import (
    KINDS,
    MANIFEST,
    PROVENANCES,
    RECORDED_DUMP,
    GradientListing,
    GradientRecord,
    load_gradients,
    write_manifest,
    write_step,
)
from matsign.io.formats import DumpError
from matsign.io.source import find_record

__all__ = [
    "KINDS",
    "MANIFEST",
    "PROVENANCES",
    "RECORDED_DUMP",
    "DumpError",
    "GradientListing",
    "GradientRecord",
    "find_record",
    "load_gradients",
    "write_manifest",
    "write_step",
]
