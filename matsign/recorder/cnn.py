r"""A small convolutional net on scikit-learn's handwritten digits, dumped as PyTorch checkpoints.

The data are the 1797 grey 8×8 images of ``sklearn.datasets.load_digits`` (bundled with
scikit-learn, nothing downloaded), pixel values scaled from 0…16 to 0…1, in their stored
order: the first 1500 train, the last 297 validate.

:class:`DigitsCNN` is ``conv 1→8 3×3 → ReLU → conv 8→16 3×3 → ReLU → max-pool 2 → linear 256→64 →
ReLU → linear 64→10`` (padding 1, biases everywhere): two 4-D convolution kernels
``(out_channels, in_channels, kh, kw)`` and two matrices.

:func:`record_cnn` trains it with ``torch.optim.AdamW`` and, at each dump step ``t``, writes what a
training script that checkpoints with ``torch.save`` leaves behind:

- ``cnn_optimizer_step{t:06d}.pt``: ``torch.save(optimizer.state_dict())`` after the step — the
  AdamW state dict exactly, ``{"state": {i: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups":
  [{..., "params": [0, 1, …]}]}``, parameters numbered in ``model.parameters()`` order;
- ``cnn_model_step{t:06d}.pt``: ``torch.save(model.state_dict())`` after the step, whose keys
  (the model has no buffers) name those numbers in the same order;
- ``cnn_grad_step{t:06d}.pt``: ``torch.save({name: p.grad})`` after the backward pass, before the
  step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from matsign._backend import check_nonnegative_int, check_positive_int, check_real
from matsign.recorder.recording import checked_steps, derived_seeds
from matsign.recorder.training import run_steps

__all__ = ["CNN_LR", "TRAIN_IMAGES", "Digits", "DigitsCNN", "load_digits", "record_cnn"]

#: Images (in stored order) that train; the rest validate.
TRAIN_IMAGES = 1500
#: Default learning rate of AdamW.
CNN_LR = 3e-3
CLASSES = 10


@dataclass(frozen=True)
class Digits:
    """Images ``(n, 1, 8, 8)`` float32 in ``[0, 1]`` and labels ``(n,)`` int64 of both splits."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    validation_images: torch.Tensor
    validation_labels: torch.Tensor

    def get_batch(self, batch: int, *, generator):
        """``batch`` training images and labels drawn uniformly with replacement from ``generator``.

        Examples
        --------
        >>> x, y = load_digits().get_batch(4, generator=torch.Generator().manual_seed(0))
        >>> tuple(x.shape), tuple(y.shape)
        ((4, 1, 8, 8), (4,))
        """
        batch = check_positive_int(batch, "batch")
        rows = torch.randint(self.train_labels.numel(), (batch,), generator=generator)
        return self.train_images[rows], self.train_labels[rows]


def load_digits() -> Digits:
    """scikit-learn's digits, scaled to ``[0, 1]`` and split as the module docstring says.

    Examples
    --------
    >>> digits = load_digits()
    >>> digits.train_images.shape, digits.validation_labels.shape, float(digits.train_images.max())
    (torch.Size([1500, 1, 8, 8]), torch.Size([297]), 1.0)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(data.target, dtype=torch.int64)
    return Digits(images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES], images[TRAIN_IMAGES:], labels[TRAIN_IMAGES:])


class DigitsCNN(nn.Module):
    """The convolutional classifier of the module docstring; ``model(x, y)`` is the mean cross-entropy.

    Parameters
    ----------
    generator : torch.Generator, optional
        CPU generator of PyTorch's default (Kaiming-uniform) initialization of every layer.

    Examples
    --------
    >>> model = DigitsCNN(generator=torch.Generator().manual_seed(0))
    >>> {name: tuple(p.shape) for name, p in model.named_parameters() if p.ndim > 1}
    {'conv1.weight': (8, 1, 3, 3), 'conv2.weight': (16, 8, 3, 3), 'fc1.weight': (64, 256), 'fc2.weight': (10, 64)}
    >>> tuple(model(torch.zeros(5, 1, 8, 8)).shape)
    (5, 10)
    """

    def __init__(self, *, generator=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, CLASSES)
        if generator is not None:
            _reset_parameters(self, generator)

    def forward(self, x, targets=None):
        h = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        logits = self.fc2(F.relu(self.fc1(h.flatten(1))))
        if targets is None:
            return logits
        return F.cross_entropy(logits, targets)


def _reset_parameters(model: nn.Module, generator) -> None:
    """PyTorch's default initialization of conv and linear layers, drawn from ``generator``:
    weights and biases uniform in ``±1/√fan_in`` (``kaiming_uniform_(a=√5)`` gives the same bound)."""
    with torch.no_grad():
        for layer in (model.conv1, model.conv2, model.fc1, model.fc2):
            bound = layer.weight[0].numel() ** -0.5
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)


def record_cnn(out_dir="results/zoo/cnn", *, batch: int = 64, steps: int = 50, dump_steps=(1, 10, 50),
               lr: float | None = None, seed: int = 0, progress: bool = True,
               after_backward=None, after_step=None) -> Path:
    """Train :class:`DigitsCNN` with AdamW and write its checkpoints at ``dump_steps`` (module docstring).

    Parameters
    ----------
    out_dir : str or Path
        Created if missing.
    batch, steps : int
        Images per step and number of steps.
    dump_steps : iterable of int
        Steps (in ``1 … steps``) whose gradients, optimizer state and weights are written.
    lr : float, optional
        AdamW's learning rate (default ``CNN_LR``); betas, eps and weight decay are PyTorch's
        defaults (0.9, 0.999), 1e-8 and 0.01.
    seed : int
        Seeds the initialization and the batches.
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
    ...     out = record_cnn(d, steps=2, dump_steps=(2,), progress=False)
    ...     print(sorted(p.name for p in out.iterdir()))
    ['cnn_grad_step000002.pt', 'cnn_model_step000002.pt', 'cnn_optimizer_step000002.pt']
    """
    batch = check_positive_int(batch, "batch")
    steps, dump_steps = checked_steps(steps, dump_steps)
    seed = check_nonnegative_int(seed, "seed")
    lr = CNN_LR if lr is None else check_real(lr, "lr", low=0, open_low=True)
    init_seed, data_seed = derived_seeds(seed)
    digits = load_digits()
    model = DigitsCNN(generator=torch.Generator().manual_seed(init_seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(data_seed)

    def dump_gradients(state):
        if state.step in dump_steps:
            grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
            torch.save(grads, out / f"cnn_grad_step{state.step:06d}.pt")

    def dump_checkpoint(state):
        if state.step in dump_steps:
            torch.save(optimizer.state_dict(), out / f"cnn_optimizer_step{state.step:06d}.pt")
            torch.save(model.state_dict(), out / f"cnn_model_step{state.step:06d}.pt")

    run_steps(model, [optimizer], lambda: digits.get_batch(batch, generator=generator), steps=steps,
              after_backward=[dump_gradients, *([after_backward] if after_backward else [])],
              after_step=[dump_checkpoint, *([after_step] if after_step else [])],
              progress=progress, desc="record cnn")
    return out
