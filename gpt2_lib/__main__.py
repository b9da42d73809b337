"""The command line: `generate` streams text from a model; `prepare` tokenizes text files; `train` trains a GPT;
`finetune` fine-tunes one on instructions; `classify` fine-tunes one as a classifier and labels texts with it."""

from __future__ import annotations

import argparse
import codecs
import os
import shlex
import signal
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gpt2_lib", description="GPT-2 From Scratch, from the terminal.")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="stream text from a model, token by token")
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
    gen.add_argument("--max-new-tokens", type=_positive_int, default=100)
    gen.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--top-p", type=float, default=None)
    gen.add_argument("--seed", type=int, default=None, help="fix the sampling, for reproducible output")
    gen.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cuda, mps or cpu")
    _add_prepare(commands)
    _add_train(commands)
    _add_finetune(commands)
    _add_classify(commands)
    return parser


# chapter 9: `finetune`; its options and its logic live in gpt2_lib.finetune
def _add_finetune(commands) -> None:
    from gpt2_lib.finetune import add_finetune_arguments

    add_finetune_arguments(commands.add_parser("finetune", help="fine-tune a GPT-2 on instruction data (all weights, "
                                               "or LoRA adapters) and save it for `generate --instruction`"))


def finetune_command(args: argparse.Namespace) -> None:
    from gpt2_lib.finetune import finetune_command as run

    run(args)


# chapter 12: `classify train` and `classify predict`; their options and logic live in gpt2_lib.classify
def _add_classify(commands) -> None:
    from gpt2_lib.classify import add_classify_arguments

    add_classify_arguments(commands.add_parser("classify", help="fine-tune a GPT-2 as a text classifier "
                                               "(classify train), or label texts with one (classify predict)"))


def classify_command(args: argparse.Namespace) -> None:
    from gpt2_lib.classify import classify_command as run

    run(args)


def _add_prepare(commands) -> None:
    prep = commands.add_parser("prepare", help="tokenize text files into train.bin / val.bin (uint16) for `train`")
    prep.add_argument("--input", nargs="+", required=True, metavar="FILE", help="UTF-8 text files; each ends "
                      "with <|endoftext|>")
    prep.add_argument("--out", required=True, metavar="DIR", help="folder for train.bin, val.bin and meta.json")
    prep.add_argument("--val-fraction", type=float, default=0.1, help="share of the tokens kept for validation")
    prep.add_argument("--workers", type=_positive_int, default=None, help="tokenizer processes (default: one per "
                      "CPU core for large inputs, else 1)")
    prep.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_train(commands) -> None:
    tr = commands.add_parser("train", help="train a GPT on a folder written by `prepare`; --resume continues a run")
    tr.add_argument("--data", required=True, metavar="DIR", help="a folder written by `prepare`")
    tr.add_argument("--out", required=True, metavar="DIR", help="metrics.jsonl and checkpoint-NNNNNN/ go here")
    tr.add_argument("--model", default=None, help="the architecture to train from scratch: tiny (default), gpt2, "
                    "gpt2-medium, gpt2-large, gpt2-xl")
    init = tr.add_mutually_exclusive_group()
    init.add_argument("--init", metavar="NAME", help="start from OpenAI's weights for NAME (e.g. gpt2) instead of "
                      "random ones")
    init.add_argument("--init-checkpoint", metavar="DIR", help="start from a folder with config.json + "
                      "model.safetensors (save_pretrained's, or a checkpoint-NNNNNN of an earlier run)")
    for name in ("n_layer", "n_head", "n_embd"):
        tr.add_argument(f"--{name.replace('_', '-')}", type=_positive_int, default=None,
                        help=f"override the preset's {name} (training from scratch only)")
    tr.add_argument("--max-steps", type=int, default=1000)
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--block-size", type=int, default=None, help="default: the model's")
    tr.add_argument("--grad-accum", type=int, default=1, help="micro-batches per update")
    tr.add_argument("--lr", type=float, default=6e-4, help="peak learning rate")
    tr.add_argument("--min-lr", type=float, default=None, help="default: lr / 10")
    tr.add_argument("--warmup-steps", type=int, default=0)
    tr.add_argument("--dropout", type=float, default=0.0)
    tr.add_argument("--weight-decay", type=float, default=0.1)
    tr.add_argument("--grad-clip", type=float, default=1.0, help="0 turns clipping off")
    tr.add_argument("--eval-every", type=int, default=100)
    tr.add_argument("--eval-batches", type=int, default=10)
    tr.add_argument("--patience", type=int, default=None, help="early stopping: evaluations without a better val loss")
    tr.add_argument("--save-every", type=int, default=None, help="steps between checkpoints (always at the end)")
    tr.add_argument("--seed", type=int, default=1337)
    tr.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out, with the same "
                    "settings: only --max-steps, --patience, the eval and save settings, --device, --dtype and "
                    "--compile may change (another --lr, --warmup-steps, --weight-decay, ... is refused)")
    tr.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cuda, mps or cpu")
    tr.add_argument("--dtype", default="auto", help="auto (bf16 on GPUs that have it, else fp16 with a grad scaler; "
                    "fp32 on CPU), bf16, fp16, fp32")
    tr.add_argument("--compile", action="store_true", help="torch.compile the model")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")


def _load(args: argparse.Namespace):
    from gpt2_lib import pretrained

    if args.checkpoint:
        return pretrained.load_pretrained(args.checkpoint)
    return pretrained.from_pretrained(args.model or "gpt2")


def generate_command(args: argparse.Namespace) -> None:
    """Load the model, then print the prompt and each new token as soon as it is sampled."""
    import torch

    from gpt2_lib.device import pick_device
    from gpt2_lib.generate import stream
    from gpt2_lib.tokenizer import get_tokenizer

    device = pick_device(args.device)
    model = _load(args).to(device)
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
    from gpt2_lib.data import prepare

    meta = prepare(args.input, args.out, args.val_fraction, workers=args.workers, progress=not args.no_progress)
    print(f"{args.out}: {meta['train_tokens']:,} train and {meta['val_tokens']:,} val tokens")


def train_command(args: argparse.Namespace) -> None:
    """Train from the command line; under `torchrun --nproc_per_node=N -m gpt2_lib train ...`, data parallel."""
    import torch

    from gpt2_lib.train import TrainConfig, train, train_setup

    cfg = TrainConfig(max_steps=args.max_steps, batch_size=args.batch_size, block_size=args.block_size,
                      grad_accum_steps=args.grad_accum, learning_rate=args.lr, min_lr=args.min_lr,
                      warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
                      eval_every=args.eval_every, eval_batches=args.eval_batches, patience=args.patience,
                      seed=args.seed, out_dir=args.out, save_every=args.save_every, resume=args.resume,
                      device=args.device, dtype=args.dtype, compile=args.compile, progress=not args.no_progress)
    overrides = {k: getattr(args, k) for k in ("n_layer", "n_head", "n_embd") if getattr(args, k) is not None}
    model, train_ids, val_ids = train_setup(args.data, cfg, args.model, init=args.init,
                                            init_checkpoint=args.init_checkpoint, dropout=args.dropout, **overrides)
    from gpt2_lib.distributed import init_from_env

    rank = init_from_env(args.device)  # None unless torchrun started several processes
    try:
        history = train(model, cfg, train_ids, val_ids, rank=rank)
    finally:
        if rank:
            torch.distributed.destroy_process_group()
    if rank and not rank.is_main:
        return
    last = history[-1] if history else {}
    val = next((r["val_loss"] for r in reversed(history) if "val_loss" in r), float("nan"))
    print(f"step {last.get('step', 0)}: train loss {last.get('train_loss', float('nan')):.4f}, val loss {val:.4f}; "
          f"metrics and checkpoint in {args.out}")


# what to try when the GPU runs out of memory, by command
OOM_HINTS = {"train": "lower --batch-size (and raise --grad-accum to keep the tokens per update) or --block-size, "
                      "or train a smaller --model",
             "finetune": "lower --batch-size or --max-length, or train LoRA adapters (--lora-rank 8)",
             "generate": "use a smaller --model, or --device cpu",
             "classify": "lower --batch-size or --max-length, or --train head"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    # Exit codes: 2 for bad usage (a setting or an input that cannot work; argparse's code too), 1 for a failure at
    # run time. Anything else keeps its traceback.
    command = {"generate": generate_command, "prepare": prepare_command, "train": train_command,
               "finetune": finetune_command, "classify": classify_command}[args.command]
    try:
        command(args)
        sys.stdout.flush()  # here, not at exit: a reader that stopped early (`| head`) is handled below
    except BrokenPipeError:  # the reader has all it wanted: no error, no "Broken pipe" noise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        return 128 + 13  # as a program that SIGPIPE ended
    except KeyboardInterrupt as e:
        from gpt2_lib.train import Interrupted

        if isinstance(e, Interrupted) and e.checkpoint:
            again = shlex.join(["python", "-m", "gpt2_lib", *argv, *([] if "--resume" in argv else ["--resume"])])
            print(f"interrupted by {signal.Signals(e.signum).name}: step {e.step} is saved in {e.checkpoint}; "
                  f"continue with:\n{again}", file=sys.stderr)
            return 128 + e.signum
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as e:  # a setting, or a file the user named: bad usage
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:  # the disk, the network, another run, the GPU: a failure at run time
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(e, torch.cuda.OutOfMemoryError):
            print(f"error: {str(e).splitlines()[0]}\nhint: {OOM_HINTS.get(args.command, 'free GPU memory')}", file=sys.stderr)
        else:
            print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
