"""The command line: `generate` streams text from a model; `prepare` tokenizes text files; `train` trains a GPT;
`finetune` fine-tunes one on instructions; `classify` fine-tunes one as a classifier and labels texts with it."""

from __future__ import annotations

import argparse
import codecs
import importlib
import os
import shlex
import signal
import sys
from dataclasses import fields
from pathlib import Path


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (the counts of every command)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# name -> (help, the function that adds its options, the function that runs it); both are looked up only for the
# command given, so `--help` imports no torch, nor does `prepare`
COMMANDS = {
    "generate": ("stream text from a model, token by token", "_add_generate", "generate_command"),
    "prepare": ("tokenize text files into train.bin / val.bin (uint16) for `train`", "_add_prepare", "prepare_command"),
    "train": ("train a GPT on a folder written by `prepare`; --resume continues a run", "_add_train", "train_command"),
    "finetune": ("fine-tune a GPT-2 on instruction data (all weights, or LoRA adapters) and save it for "
                 "`generate --instruction`", "gpt2_lib.finetune_cli:add_finetune_arguments",
                 "gpt2_lib.finetune_cli:finetune_command"),
    "classify": ("fine-tune a GPT-2 as a text classifier (classify train), or label texts with one (classify "
                 "predict)", "gpt2_lib.classify_cli:add_classify_arguments", "gpt2_lib.classify_cli:classify_command"),
}


def _function(name: str):
    """A function of this module by name, or `module:name` of another, imported only now."""
    if ":" not in name:
        return globals()[name]
    module, attr = name.split(":")
    return getattr(importlib.import_module(module), attr)


def _parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser, with the options of the command in argv only (its first argument that is not an option)."""
    parser = argparse.ArgumentParser(prog="python -m gpt2_lib", description="GPT-2 From Scratch, from the terminal.")
    commands = parser.add_subparsers(dest="command", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (help, add_arguments, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=help)
        if name == chosen:
            _function(add_arguments)(sub)
    return parser


def _add_generate(gen: argparse.ArgumentParser) -> None:
    source = gen.add_mutually_exclusive_group()
    source.add_argument("--model", default=None, help="OpenAI's release: gpt2, gpt2-medium, gpt2-large, gpt2-xl "
                                                      "(the default is gpt2 when no --checkpoint is given)")
    source.add_argument("--checkpoint", help="a directory written by save_pretrained (config.json + "
                        "model.safetensors), or a checkpoint-NNNNNN folder of a `train` run")
    prompt = gen.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help="the text to continue; a typed <|endoftext|> is GPT-2's end-of-text token "
                        "(id 50256, which separates documents), as in transformers, not those 13 characters")
    prompt.add_argument("--instruction", help="a task for a model fine-tuned on instructions (chapter 9): wrapped in "
                        "its template, and only the answer is printed")
    gen.add_argument("--input", default="", help="with --instruction: the task's input, if it has one")
    gen.add_argument("--max-new-tokens", type=positive_int, default=100)
    gen.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--top-p", type=float, default=None)
    gen.add_argument("--seed", type=int, default=None, help="fix the sampling, for reproducible output")
    gen.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cuda, mps or cpu")


def _add_prepare(prep: argparse.ArgumentParser) -> None:
    prep.add_argument("--input", nargs="+", required=True, metavar="FILE", help="UTF-8 text files; each ends "
                      "with <|endoftext|>")
    prep.add_argument("--out", required=True, metavar="DIR", help="folder for train.bin, val.bin and meta.json")
    prep.add_argument("--val-fraction", type=float, default=0.1, help="share of the tokens kept for validation")
    prep.add_argument("--workers", type=positive_int, default=None, help="tokenizer processes (default: one per "
                      "CPU core for large inputs, else 1)")
    prep.add_argument("--no-progress", action="store_true", help="no progress bar")


# `train`'s options are TrainConfig's fields, with its defaults; here are only their other names and their help
TRAIN_NAMES = {"out_dir": ["--out"], "learning_rate": ["--learning-rate", "--lr"],
               "grad_accum_steps": ["--grad-accum-steps", "--grad-accum"]}
TRAIN_HELP = {
    "out_dir": "metrics.jsonl and checkpoint-NNNNNN/ go here",
    "block_size": "tokens per sequence (None: the model's)",
    "grad_accum_steps": "micro-batches per update",
    "learning_rate": "peak learning rate",
    "min_lr": "the floor of the cosine (None: learning rate / 10)",
    "lr_decay_steps": "where the cosine reaches --min-lr (None: --max-steps)",
    "grad_clip": "clip the gradient norm to this; 0 turns clipping off",
    "patience": "early stopping: evaluations without a better val loss",
    "save_every": "steps between checkpoints (always at the end)",
    "resume": "continue from the last checkpoint in --out, with the same settings: only --max-steps, --patience, "
              "the eval and save settings, --device, --dtype and --compile may change (another --lr, "
              "--warmup-steps, --weight-decay, ... is refused)",
    "device": "auto (cuda > mps > cpu), cuda, mps or cpu",
    "dtype": "auto (bf16 on GPUs that have it, else fp16 with a grad scaler; fp32 on CPU), bf16, fp16, fp32",
    "compile": "torch.compile the model",
    "progress": "a progress bar (--no-progress: none)",
}
TYPES = {"int": int, "float": float, "str": str}


def add_train_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, with its default: `learning_rate` is --learning-rate (or --lr)."""
    from gpt2_lib.train import TrainConfig

    for f in fields(TrainConfig):
        names = TRAIN_NAMES.get(f.name, [f"--{f.name.replace('_', '-')}"])
        kind = f.type.split(" | ")[0]  # "int | None": an int, or the default None
        extra = {"action": argparse.BooleanOptionalAction} if kind == "bool" else {"type": TYPES[kind]}
        if f.name == "out_dir":
            extra |= {"required": True, "metavar": "DIR"}
        help = TRAIN_HELP.get(f.name, "")
        parser.add_argument(*names, dest=f.name, default=f.default, **extra,
                            help=f"{help} (default: %(default)s)" if help else "default: %(default)s")


def _add_train(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--data", required=True, metavar="DIR", help="a folder written by `prepare`")
    tr.add_argument("--model", default=None, help="the architecture to train from scratch: tiny (default), gpt2, "
                    "gpt2-medium, gpt2-large, gpt2-xl")
    init = tr.add_mutually_exclusive_group()
    init.add_argument("--init", metavar="NAME", help="start from OpenAI's weights for NAME (e.g. gpt2) instead of "
                      "random ones")
    init.add_argument("--init-checkpoint", metavar="DIR", help="start from a folder with config.json + "
                      "model.safetensors (save_pretrained's, or a checkpoint-NNNNNN of an earlier run)")
    for name in ("n_layer", "n_head", "n_embd"):
        tr.add_argument(f"--{name.replace('_', '-')}", type=positive_int, default=None,
                        help=f"override the preset's {name} (training from scratch only)")
    tr.add_argument("--dropout", type=float, default=0.0)
    add_train_config_arguments(tr)


def generate_command(args: argparse.Namespace) -> None:
    """Load the model, then print the prompt and each new token as soon as it is sampled."""
    import torch

    from gpt2_lib.device import pick_device
    from gpt2_lib.generate import stream
    from gpt2_lib.tokenizer import get_tokenizer
    from gpt2_lib.train import load_model

    device = pick_device(args.device)
    model = load_model(args.checkpoint or args.model or "gpt2").to(device)
    tok = get_tokenizer()
    if model.config.vocab_size != tok.n_vocab:
        raise ValueError(f"the model has a vocabulary of {model.config.vocab_size} tokens, not GPT-2's {tok.n_vocab}: "
                         "this command encodes text with GPT-2's tokenizer")
    if args.instruction is not None:  # chapter 9: the fine-tuning template around the task; print only the answer
        from gpt2_lib.finetune import format_prompt

        args.prompt = format_prompt({"instruction": args.instruction, "input": args.input})
    ids = tok.encode(args.prompt, allowed_special="all")  # a typed <|endoftext|> is the token: see --prompt's help
    if not ids:
        raise ValueError("the prompt is empty: give some text to continue")
    generator = None
    if args.seed is not None:
        generator = torch.Generator(device=device).manual_seed(args.seed)
    idx = torch.tensor([ids], device=device)
    # stream checks the settings and the prompt's length when called: nothing is printed before that
    tokens = stream(model, idx, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, eos_token_id=tok.eot_token, generator=generator)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a token may end inside a UTF-8 character
    sys.stdout.write(args.prompt if args.instruction is None else "")
    for token in tokens:
        t = int(token[0])
        if t == tok.eot_token:
            break
        sys.stdout.write(text.decode(tok.decode_single_token_bytes(t)))
        sys.stdout.flush()
    sys.stdout.write(text.decode(b"", final=True) + "\n")


def prepare_command(args: argparse.Namespace) -> None:
    from gpt2_lib.prepare import prepare

    meta = prepare(args.input, args.out, args.val_fraction, workers=args.workers, progress=not args.no_progress)
    print(f"{args.out}: {meta['train_tokens']:,} train and {meta['val_tokens']:,} val tokens")


def train_command(args: argparse.Namespace) -> None:
    """Train from the command line; under `torchrun --nproc_per_node=N -m gpt2_lib train ...`, data parallel."""
    import torch

    from gpt2_lib.distributed import DataParallel, init_from_env
    from gpt2_lib.train import TrainConfig, train, train_setup

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    overrides = {k: getattr(args, k) for k in ("n_layer", "n_head", "n_embd") if getattr(args, k) is not None}
    model, train_ids, val_ids = train_setup(args.data, cfg, args.model, init=args.init,
                                            init_checkpoint=args.init_checkpoint, dropout=args.dropout, **overrides)
    rank = init_from_env(args.device)  # None unless torchrun started several processes
    try:
        history = train(model, cfg, train_ids, val_ids, parallel=DataParallel(rank) if rank else None)
    finally:
        if rank:
            torch.distributed.destroy_process_group()
    if rank and not rank.is_main:
        return
    last = history[-1] if history else {}
    val = next((r["val_loss"] for r in reversed(history) if "val_loss" in r), float("nan"))
    print(f"step {last.get('step', 0)}: train loss {last.get('train_loss', float('nan')):.4f}, val loss {val:.4f}; "
          f"metrics and checkpoint in {args.out_dir}")


# what to try when the GPU runs out of memory, by command
OOM_HINTS = {"train": "lower --batch-size (and raise --grad-accum to keep the tokens per update) or --block-size, "
                      "or train a smaller --model",
             "finetune": "lower --batch-size or --max-length, or train LoRA adapters (--lora-rank 8)",
             "generate": "use a smaller --model, or --device cpu",
             "classify": "lower --batch-size or --max-length, or --train head"}


PACKAGE = Path(__file__).resolve().parent


def _expected(e: BaseException) -> bool:
    """Whether an error is one the user can act on: raised by gpt2_lib itself (its messages say what to do), an OSError
    naming a file (the disk), or a GPU out of memory. Anything else is a bug, and keeps its traceback."""
    torch = sys.modules.get("torch")
    if (torch is not None and isinstance(e, torch.cuda.OutOfMemoryError)) or (isinstance(e, OSError) and e.filename):
        return True
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:  # the frame that raised it
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv).parse_args(argv)
    # Exit codes: 2 for bad usage (a setting or an input that cannot work; argparse's code too), 1 for a failure at
    # run time. Only errors the user can act on become one line (see _expected); anything else keeps its traceback.
    command = _function(COMMANDS[args.command][2])
    try:
        command(args)
        sys.stdout.flush()  # here, not at exit: a reader that stopped early (`| head`) is handled below
    except BrokenPipeError:  # the reader has all it wanted: no error, no "Broken pipe" noise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        return 128 + 13  # as a program that SIGPIPE ended
    except KeyboardInterrupt as e:
        from gpt2_lib.interrupt import Interrupted

        if isinstance(e, Interrupted) and e.checkpoint:
            again = shlex.join(["python", "-m", "gpt2_lib", *argv, *([] if "--resume" in argv else ["--resume"])])
            print(f"interrupted by {signal.Signals(e.signum).name}: step {e.step} is saved in {e.checkpoint}; "
                  f"continue with:\n{again}", file=sys.stderr)
            return 128 + e.signum
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as e:
        if not _expected(e):
            raise  # a bug, here or in a library below: its traceback says where
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(e, torch.cuda.OutOfMemoryError):
            print(f"error: {str(e).splitlines()[0]}\nhint: {OOM_HINTS.get(args.command, 'free GPU memory')}",
                  file=sys.stderr)
        else:
            print(f"error: {e}", file=sys.stderr)
        # a setting, or a file the user named, is bad usage; the disk, the network, another run, the GPU fail at run time
        return 2 if isinstance(e, (ValueError, FileNotFoundError)) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
