"""GPT-2 From Scratch: the code the book's chapters build, exported from its notebooks.

Importing the package loads nothing heavy: each name in __all__ is a module, imported when first used
(`from gpt2_lib import model`, or `gpt2_lib.model`). The usual start:

    from gpt2_lib.model import GPT
    model = GPT.from_pretrained("gpt2")
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# What the package offers, one module per idea, in the chapters' order (gpt2_lib.testing is for tests only).
__all__ = [
    "tokenizer",  # ch. 1: GPT-2's byte-level BPE
    "data",  # ch. 2, 8: token windows and batches
    "attention",  # ch. 3: causal self-attention
    "block",  # ch. 4: the transformer block
    "model",  # ch. 5: GPTConfig and GPT
    "kv_cache",  # ch. 6: the KV cache and the padding mask
    "generate",  # ch. 6: sampling, the generation loop
    "pretrained",  # ch. 7: OpenAI's and Hugging Face's weights
    "tf_checkpoint",  # ch. 7, appendix A: TensorFlow checkpoints without TensorFlow
    "prepare",  # ch. 8, appendix C: text files -> token files, in parallel, without torch
    "train",  # ch. 8: the training loop
    "plots",  # ch. 8: loss curves
    "finetune",  # ch. 9: instruction fine-tuning
    "lora",  # ch. 9: low-rank adapters
    "speed",  # ch. 10: FLOPs, MFU, speed_up, activation checkpointing
    "cross_entropy",  # ch. 10: the fused Triton loss
    "bench",  # ch. 10: the training-speed measurements (python -m gpt2_lib.bench)
    "numpy_gpt",  # ch. 11: GPT-2 in NumPy, forward and backward
    "tf_gpt",  # ch. 11: GPT-2 in Keras
    "classify",  # ch. 12: classification
    "decoding",  # appendix B: the fast KV-cached decoding step
    "checkpoint",  # appendix C: checkpoints that resume exactly
    "interrupt",  # appendix C: runs that stop cleanly on Ctrl-C or SIGTERM
    "distributed",  # appendix D: data parallelism under torchrun
    "cuda_graph",  # appendix D: a training step as one CUDA graph
    "finetune_cli",  # appendix E: `python -m gpt2_lib finetune`
    "classify_cli",  # appendix E: `python -m gpt2_lib classify`
    "device",  # picking the device and what it can do
    "download",  # verified, cached downloads
]


def __getattr__(name: str):
    """`gpt2_lib.model` and friends, imported on first use."""
    if name in __all__:
        return importlib.import_module(f"gpt2_lib.{name}")
    raise AttributeError(f"module 'gpt2_lib' has no attribute {name!r}")
