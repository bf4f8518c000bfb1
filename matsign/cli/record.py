"""``matsign record``: its arguments and what it runs. Imports without PyTorch; running it needs it
(and scikit-learn for ``--model cnn``)."""

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


#: The model-specific options: ``{dest: {model: default}}``; an option given for a model not listed is an error.
MODEL_OPTIONS = {
    "width": {"gpt": 128, "moe": 64},
    "depth": {"gpt": 2, "moe": 2},
    "heads": {"gpt": 4},
    "context": {"gpt": 128, "moe": 16},
    "batch": {"gpt": 16, "cnn": 64, "moe": 64},
    "optimizer": {"gpt": "muon"},
    "dtype": {"gpt": "float32"},
    "format": {"gpt": "safetensors"},
    "device": {"gpt": "cpu"},
    "layout": {"gpt": "matsign"},
    "experts": {"moe": 4},
    "top_k": {"moe": 2},
    "max_shard_size": {"moe": 400_000},
}

#: Where each model's dump goes unless ``--out`` says otherwise.
DEFAULT_OUT = {"gpt": "results/recorded", "cnn": "results/zoo/cnn", "moe": "results/zoo/moe"}


def add_record_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``matsign record`` to ``parser`` and return it.

    Options that only some models take default to None here; :func:`model_arguments` fills in
    the chosen model's defaults and rejects the options it does not take.

    Examples
    --------
    >>> args = add_record_arguments(argparse.ArgumentParser()).parse_args(["--dump-steps", "1,5", "--dtype", "bfloat16"])
    >>> args = model_arguments(args)
    >>> args.model, args.dump_steps, args.dtype, args.width, args.out
    ('gpt', (1, 5), 'bfloat16', 128, 'results/recorded')
    """
    parser.add_argument("--model", choices=tuple(DEFAULT_OUT), default="gpt",
                        help="gpt: a small GPT on the Python docs; cnn: a convolutional net on scikit-learn's digits, "
                             "dumped as PyTorch optimizer checkpoints; moe: a mixture-of-experts byte model, "
                             "dumped as sharded safetensors (default: gpt)")
    parser.add_argument("--out", default=None,
                        help="output directory (default: results/recorded, results/zoo/cnn or results/zoo/moe)")
    parser.add_argument("--width", type=int, default=None,
                        help="gpt, moe: model width (default: 128 for gpt (GPT-2 small: 768), 64 for moe)")
    parser.add_argument("--depth", type=int, default=None,
                        help="gpt: transformer blocks (default: 2; GPT-2 small: 12); moe: expert layers (default: 2)")
    parser.add_argument("--heads", type=int, default=None, help="gpt: attention heads (default: 4; GPT-2 small: 12)")
    parser.add_argument("--context", type=int, default=None,
                        help="gpt, moe: tokens per sequence (default: 128 for gpt, 16 for moe)")
    parser.add_argument("--batch", type=int, default=None,
                        help="sequences or images per step (default: 16 for gpt, 64 for cnn and moe)")
    parser.add_argument("--steps", type=int, default=50, help="training steps (default: 50)")
    parser.add_argument("--dump-steps", type=_step_list, default=(1, 10, 50), metavar="LIST",
                        help="comma-separated steps to dump (default: 1,10,50)")
    parser.add_argument("--optimizer", choices=("muon", "adamw"), default=None,
                        help="gpt: muon (hidden weights; AdamW for the rest) or adamw (default: muon); "
                             "cnn and moe always train with AdamW")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate of Muon or AdamW (default: 0.02 for gpt with muon, 0.003 otherwise)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                        help="gpt: precision of training and dumps (default: float32)")
    parser.add_argument("--format", choices=("safetensors", "npz", "pt"), default=None,
                        help="gpt: dump file format (default: safetensors)")
    parser.add_argument("--layout", choices=("matsign", "foreign"), default=None,
                        help="gpt: matsign (step-*.safetensors with grad/ and momentum/ keys, manifest.json) or "
                             "foreign (gpt_stdlib_step{t}_grad.safetensors, nanoGPT names, every parameter's "
                             "gradient, no manifest) (default: matsign)")
    parser.add_argument("--experts", type=int, default=None, help="moe: experts per layer (default: 4)")
    parser.add_argument("--top-k", type=int, default=None, help="moe: experts each example uses (default: 2)")
    parser.add_argument("--max-shard-size", type=int, default=None, metavar="BYTES",
                        help="moe: largest safetensors shard in bytes (default: 400000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", default=None, help="gpt: cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def model_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the chosen model's defaults filled in; a ``ValueError`` names an option the model does not take.

    Examples
    --------
    >>> parser = add_record_arguments(argparse.ArgumentParser())
    >>> model_arguments(parser.parse_args(["--model", "moe"])).top_k
    2
    >>> model_arguments(parser.parse_args(["--model", "cnn", "--heads", "2"]))
    Traceback (most recent call last):
    ...
    ValueError: --heads applies to --model gpt only, not to --model cnn
    """
    filled = argparse.Namespace(**vars(args))
    filled.out = args.out or DEFAULT_OUT[args.model]
    for dest, defaults in MODEL_OPTIONS.items():
        if args.model in defaults:
            setattr(filled, dest, defaults[args.model] if getattr(args, dest) is None else getattr(args, dest))
        elif getattr(args, dest) is not None:
            option = "--" + dest.replace("_", "-")
            raise ValueError(f"{option} applies to --model {' and '.join(defaults)} only, not to --model {args.model}")
    return filled


def record_command(args: argparse.Namespace) -> int:
    """Run ``matsign record`` with parsed ``args``; print where the dump went; return the exit status."""
    try:
        args = model_arguments(args)
    except ValueError as exc:
        print(f"matsign record: {exc}", file=sys.stderr)
        return 2
    try:
        from matsign.recorder.recording import record
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print("matsign record needs PyTorch: pip install 'matsign[torch]'", file=sys.stderr)
        return 2
    common = {"steps": args.steps, "dump_steps": args.dump_steps, "seed": args.seed, "progress": not args.no_progress}
    try:
        if args.model == "gpt":
            out = record(
                args.out, width=args.width, depth=args.depth, heads=args.heads, context=args.context,
                batch=args.batch, optimizer=args.optimizer, lr=args.lr, dtype=args.dtype, format=args.format,
                device=args.device, layout=args.layout, **common,
            )
        elif args.model == "cnn":
            from matsign.recorder.cnn import record_cnn

            out = record_cnn(args.out, batch=args.batch, lr=args.lr, **common)
        else:
            from matsign.recorder.moe import MoEConfig, record_moe

            config = MoEConfig(context=args.context, width=args.width, depth=args.depth, experts=args.experts,
                               top_k=args.top_k)
            out = record_moe(args.out, config=config, batch=args.batch, lr=args.lr,
                             max_shard_bytes=args.max_shard_size, **common)
    except ValueError as exc:
        print(f"matsign record: {exc}", file=sys.stderr)
        return 2
    what = "manifest.json and " if args.model == "gpt" and args.layout == "matsign" else ""
    print(f"wrote {what}{len(set(args.dump_steps))} {args.model} dumps to {out}")
    return 0
