"""``matsign record``: its arguments and what it runs. Imports without PyTorch; running it needs it."""

from __future__ import annotations

import argparse
import sys


def _step_list(text: str) -> tuple:
    """``"1,10,50"`` as ``(1, 10, 50)``; anything else is an argparse error."""
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated step numbers such as 1,10,50, got {text!r}") from None
    if any(s < 1 for s in steps):
        raise argparse.ArgumentTypeError(f"step numbers start at 1, got {text!r}")
    return steps


def add_record_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``matsign record`` to ``parser`` and return it.

    Examples
    --------
    >>> args = add_record_arguments(argparse.ArgumentParser()).parse_args(["--dump-steps", "1,5", "--dtype", "bfloat16"])
    >>> args.dump_steps, args.dtype, args.width, args.out
    ((1, 5), 'bfloat16', 128, 'results/recorded')
    """
    parser.add_argument("--out", default="results/recorded", help="output directory (default: results/recorded)")
    parser.add_argument("--width", type=int, default=128, help="model width (default: 128; GPT-2 small: 768)")
    parser.add_argument("--depth", type=int, default=2, help="transformer blocks (default: 2; GPT-2 small: 12)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default: 4; GPT-2 small: 12)")
    parser.add_argument("--context", type=int, default=128, help="tokens per sequence (default: 128)")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step (default: 16)")
    parser.add_argument("--steps", type=int, default=50, help="training steps (default: 50)")
    parser.add_argument("--dump-steps", type=_step_list, default=(1, 10, 50), metavar="LIST",
                        help="comma-separated steps to dump (default: 1,10,50)")
    parser.add_argument("--optimizer", choices=("muon", "adamw"), default="muon",
                        help="muon (hidden weights; AdamW for the rest) or adamw (default: muon)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate of Muon or AdamW (default: 0.02 for muon, 0.003 for adamw)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="precision of training and dumps (default: float32)")
    parser.add_argument("--format", choices=("safetensors", "npz", "pt"), default="safetensors",
                        help="dump file format (default: safetensors)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def record_command(args: argparse.Namespace) -> int:
    """Run ``matsign record`` with parsed ``args``; print where the dump went; return the exit status."""
    try:
        from matsign.recorder.recording import record
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print("matsign record needs PyTorch: pip install 'matsign[torch]'", file=sys.stderr)
        return 2
    try:
        out = record(
            args.out, width=args.width, depth=args.depth, heads=args.heads, context=args.context,
            batch=args.batch, steps=args.steps, dump_steps=args.dump_steps, optimizer=args.optimizer,
            lr=args.lr, dtype=args.dtype, format=args.format, seed=args.seed, device=args.device,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"matsign record: {exc}", file=sys.stderr)
        return 2
    print(f"wrote manifest.json and {len(set(args.dump_steps))} step files to {out}")
    return 0
