"""Chapter 1's BPE against tiktoken on all of Tiny Shakespeare, in one process: JSON lines, then the ratio.

    python benchmarks/tokenizer_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time

from gpt2_lib.device import describe_machine
from gpt2_lib.download import fetch_file
from gpt2_lib.tokenizer import BPETokenizer, get_tokenizer


def best_of(fn, repeat: int) -> float:
    """The fastest of `repeat` runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    text = fetch_file("tinyshakespeare.txt").read_text(encoding="utf-8")
    tiktoken_enc = get_tokenizer("tiktoken")
    ids = tiktoken_enc.encode(text)
    ours = BPETokenizer.gpt2()
    cold = best_of(lambda: ours.encode(text), 1)  # first call: every distinct chunk is merged once
    assert ours.encode(text) == ids, "the two tokenizers disagree: fix that before timing anything"
    results = {
        "ours_cold": cold,
        "ours_warm": best_of(lambda: ours.encode(text), args.repeat),
        "tiktoken": best_of(lambda: tiktoken_enc.encode(text), args.repeat),
    }
    machine = describe_machine()
    for name, seconds in results.items():
        print(json.dumps({"tokenizer": name, "seconds": round(seconds, 4), "tokens_per_s": round(len(ids) / seconds),
                          "tokens": len(ids), "machine": machine}))
    print(json.dumps({"ratio_tiktoken_over_ours_warm": round(results["ours_warm"] / results["tiktoken"], 2)}))


if __name__ == "__main__":
    main()
