r"""The training text every Python installation ships, as bytes, and random batches of it.

The corpus is the standard library's ``pydoc_data.topics`` — the language reference sections
that ``help()`` prints, about 460 KB of English prose and code — concatenated in sorted-key
order, so every installation of the same Python version yields the same text. The tokenizer
is the identity on UTF-8 bytes (vocabulary 256): nothing to train, nothing to download.
The first 90 % of the tokens train, the last 10 % validate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from matsign._backend import check_choice, check_positive_int, check_unit_interval

__all__ = ["VOCAB", "Corpus", "decode", "encode", "load_corpus", "load_text"]

#: Vocabulary size of the byte-level tokenizer.
VOCAB = 256

SPLITS = ("train", "validation")


def load_text() -> str:
    """The ``pydoc_data.topics`` documentation, topics concatenated in sorted-key order.

    Returns
    -------
    str
        About 460 000 characters; identical on every installation of one Python version.

    Examples
    --------
    >>> text = load_text()
    >>> len(text) > 400_000, load_text() == text
    (True, True)
    """
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))


def encode(text: str):
    """Byte-level tokens of ``text``: its UTF-8 bytes as an int64 tensor of shape ``(len(bytes),)``.

    Examples
    --------
    >>> encode("Ab é").tolist()
    [65, 98, 32, 195, 169]
    """
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()


def decode(tokens) -> str:
    """The text of byte-level ``tokens`` (bytes that are not valid UTF-8 become U+FFFD).

    Examples
    --------
    >>> decode(encode("Ab é"))
    'Ab é'
    """
    return bytes(torch.as_tensor(tokens).to("cpu", torch.uint8).tolist()).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Corpus:
    """Token streams of the two splits (int64 tensors on the CPU).

    Attributes
    ----------
    train, validation : torch.Tensor, shape (n,)
        Contiguous, non-overlapping parts of one token stream.
    """

    train: torch.Tensor
    validation: torch.Tensor

    def get_batch(self, split: str, batch: int, context: int, *, generator, device="cpu"):
        r"""``batch`` windows of ``context + 1`` tokens starting at uniform random offsets.

        Inputs are the first ``context`` tokens of each window, targets the last ``context``
        (next-token prediction): ``y[b, t] = x[b, t + 1]`` within a window.

        Parameters
        ----------
        split : {"train", "validation"}
        batch, context : int
            Number of windows and tokens per window.
        generator : torch.Generator
            A CPU generator; the same generator state gives the same windows on every device.
        device : str or torch.device
            Where the returned tensors live.

        Returns
        -------
        x, y : torch.Tensor, shape (batch, context), int64

        Examples
        --------
        >>> corpus = load_corpus()
        >>> x, y = corpus.get_batch("train", 2, 8, generator=torch.Generator().manual_seed(0))
        >>> tuple(x.shape), bool((x[:, 1:] == y[:, :-1]).all())
        ((2, 8), True)
        """
        check_choice(split, SPLITS, "split")
        batch = check_positive_int(batch, "batch")
        context = check_positive_int(context, "context")
        tokens = getattr(self, split)
        if context + 1 > tokens.numel():
            raise ValueError(f"context must be below the {split} split's {tokens.numel()} tokens, got {context}")
        starts = torch.randint(tokens.numel() - context, (batch,), generator=generator)
        windows = tokens[starts[:, None] + torch.arange(context + 1)]
        return windows[:, :-1].to(device), windows[:, 1:].to(device)


def load_corpus(validation_fraction: float = 0.1) -> Corpus:
    """The encoded :func:`load_text`, split into a leading training and a trailing validation part.

    Parameters
    ----------
    validation_fraction : float in (0, 1)
        Share of the tokens, taken from the end, that validate; rounded to a whole number of
        tokens, which must leave both splits non-empty.

    Examples
    --------
    >>> corpus = load_corpus()
    >>> corpus.train.numel() + corpus.validation.numel() == len(load_text().encode("utf-8"))
    True
    """
    check_unit_interval(validation_fraction, "validation_fraction")
    tokens = encode(load_text())
    cut = tokens.numel() - int(round(validation_fraction * tokens.numel()))
    if not 0 < cut < tokens.numel():
        raise ValueError(
            f"validation_fraction = {validation_fraction!r} of {tokens.numel()} tokens leaves an empty "
            f"{'validation' if cut == tokens.numel() else 'training'} split"
        )
    return Corpus(train=tokens[:cut], validation=tokens[cut:])
