"""The library's shape: small functions, a light command line, and one source for the train command's settings."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80


def test_no_function_in_gpt2_lib_is_over_80_lines():
    long = []
    for path in sorted((ROOT / "gpt2_lib").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_LINES} lines (split them into steps): {', '.join(long)}"


def _imported(*args: str, cwd: Path = ROOT) -> set[str]:
    """The modules `python -X importtime -m gpt2_lib ARGS` imported (it reports each on stderr)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gpt2_lib", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def test_help_imports_no_torch():
    modules = _imported("--help")
    assert "gpt2_lib.__main__" in modules or "gpt2_lib" in modules, "importtime reported nothing: the check is void"
    assert "torch" not in modules, "python -m gpt2_lib --help imported torch: register subcommands lazily"


def test_prepare_imports_no_torch(tmp_path):
    (tmp_path / "t.txt").write_text("A few words of text to tokenize, and a few more.\n" * 20)
    modules = _imported("prepare", "--input", str(tmp_path / "t.txt"), "--out", str(tmp_path / "data"),
                        "--no-progress")
    assert (tmp_path / "data" / "train.bin").is_file(), "prepare wrote no train.bin"
    assert "torch" not in modules, "`prepare` imported torch: it should start (and spawn its workers) without it"


def _train_args(*extra: str):
    from gpt2_lib.__main__ import _parser

    argv = ["train", "--data", "d", "--out", "o", *extra]
    return _parser(argv).parse_args(argv)


def test_train_options_default_to_train_config_defaults():
    from gpt2_lib.train import TrainConfig

    args = _train_args()
    differ = [f"{f.name}: {getattr(args, f.name, '<no option>')!r} != {f.default!r}"
              for f in dataclasses.fields(TrainConfig) if f.name != "out_dir" and getattr(args, f.name, None) != f.default]
    assert not differ, f"train options whose default is not TrainConfig's: {differ}"


@pytest.mark.parametrize("option, value, field, expected", [
    ("--lr", "1e-3", "learning_rate", 1e-3), ("--learning-rate", "2e-3", "learning_rate", 2e-3),
    ("--grad-accum", "4", "grad_accum_steps", 4), ("--beta2", "0.99", "beta2", 0.99),
    ("--lr-decay-steps", "50", "lr_decay_steps", 50), ("--no-progress", None, "progress", False),
    ("--compile", None, "compile", True), ("--resume", None, "resume", True)])
def test_every_train_config_field_can_be_set_from_the_command_line(option, value, field, expected):
    args = _train_args(option, *([value] if value else []))
    assert getattr(args, field) == expected, f"{option} {value or ''} set {field}={getattr(args, field)!r}"


def _default(module: str, function: str, argument: str):
    """The default of a function's argument, read from the module's source (tf_gpt's import would load TensorFlow)."""
    tree = ast.parse((ROOT / "gpt2_lib" / f"{module}.py").read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    args = node.args
    for arg, default in [*zip(args.args[::-1], args.defaults[::-1]), *zip(args.kwonlyargs, args.kw_defaults)]:
        if arg.arg == argument:
            return ast.literal_eval(default)
    raise AssertionError(f"{module}.{function} has no default for {argument}")


def test_the_generate_functions_share_one_default_temperature():
    defaults = {f"{m}.{f}": _default(m, f, "temperature") for m, f in
                [("generate", "generate"), ("generate", "stream"), ("numpy_gpt", "generate"), ("tf_gpt", "generate")]}
    assert len(set(defaults.values())) == 1, f"default temperatures differ: {defaults}"
