"""Chapter 1's diagrams: text to bytes to GPT-2's byte-level symbols, BPE training, and merges applied by rank."""

from __future__ import annotations

from collections import Counter

from style import ACCENT, BLUE, GREEN, GREY, INK, MUTED, ORANGE, RED, YELLOW, arrow, box, canvas

# " café" through GPT-2's tokenizer (checked against tiktoken in the chapter): bytes, symbols, ranked merges, id.
CAFE_BYTES = [32, 99, 97, 102, 195, 169]
CAFE_SYMBOLS = ["Ġ", "c", "a", "f", "Ã", "©"]
CAFE_ID = 40304
# The rank in vocab.bpe of every adjacent pair that encoding " café" meets (absent: no such merge).
CAFE_RANKS = {("Ġ", "c"): 13, ("c", "a"): 6632, ("a", "f"): 1622, ("Ã", "©"): 2378, ("Ġc", "a"): 1019,
              ("Ġca", "f"): 19689, ("Ġcaf", "Ã©"): 40048}


def merge(symbols, pair) -> tuple[str, ...]:
    """Join each non-overlapping occurrence of pair, left to right, as the chapter's merge and encoder.py do."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def symbol_strip(ax, x: float, y: float, symbols, *, w: float = 0.42, h: float = 0.34, fc=BLUE, fontsize=10,
                 highlight: tuple[int, int] | None = None, width_of=None) -> list[float]:
    """Symbols as adjacent boxes starting at x (left edge), centred on y; returns each box's centre."""
    centres = []
    for i, s in enumerate(symbols):
        bw = width_of(s) if width_of else w
        fill = YELLOW if highlight is not None and i in highlight else fc
        box(ax, x + bw / 2, y, bw, h, s, fc=fill, fontsize=fontsize, round_=False)
        centres.append(x + bw / 2)
        x += bw
    return centres


def draw_bytes_to_symbols():
    """' café' as text, UTF-8 bytes, GPT-2's printable byte symbols, and the one token its merges make."""
    fig, ax = canvas(8.9, 3.7, "From text to a GPT-2 token: \" café\"")
    label_x, x0, w = 0.15, 2.35, 0.62
    rows = {"text": 2.95, "bytes": 2.2, "symbols": 1.45, "token": 0.55}
    ax.text(label_x, rows["text"], "text", va="center", fontsize=10, fontweight="bold")
    ax.text(label_x, rows["bytes"], "UTF-8 bytes", va="center", fontsize=10, fontweight="bold")
    ax.text(label_x, rows["symbols"], "byte-level symbols\n(bytes_to_unicode)", va="center", fontsize=9,
            fontweight="bold")
    ax.text(label_x, rows["token"], "BPE merges → id", va="center", fontsize=10, fontweight="bold")
    chars = [" ", "c", "a", "f", "é"]
    spans = [1, 1, 1, 1, 2]  # bytes per character: é takes two
    x = x0
    for ch, n in zip(chars, spans):
        box(ax, x + n * w / 2, rows["text"], n * w, 0.4, "␣" if ch == " " else ch, fc=GREY,
            fontsize=11, round_=False)
        x += n * w
    bx = symbol_strip(ax, x0, rows["bytes"], [str(b) for b in CAFE_BYTES], w=w, fc=ORANGE)
    symbol_strip(ax, x0, rows["symbols"], CAFE_SYMBOLS, w=w, fc=BLUE, fontsize=11)
    for c in bx:
        arrow(ax, (c, rows["text"] - 0.2), (c, rows["bytes"] + 0.18), color=MUTED, lw=0.8)
        arrow(ax, (c, rows["bytes"] - 0.18), (c, rows["symbols"] + 0.18), color=MUTED, lw=0.8)
    xm = x0 + 3 * w
    box(ax, xm, rows["token"], 1.7, 0.42, "ĠcafÃ©", fc=GREEN, fontsize=11, round_=False)
    ax.text(xm + 1.0, rows["token"], f"= id {CAFE_ID}", va="center", fontsize=10)
    arrow(ax, (xm, rows["symbols"] - 0.2), (xm, rows["token"] + 0.23), "5 merges, by rank", color=INK,
          offset=(0.1, 0.02))
    right = x0 + 6 * w + 0.3
    ax.text(right, rows["bytes"], "é is 2 bytes: 195, 169", va="center", fontsize=9, color=MUTED)
    ax.text(right, rows["symbols"] + 0.12, "space 32 → Ġ (U+0120)", va="center", fontsize=9, color=ACCENT)
    ax.text(right, rows["symbols"] - 0.16, "195 → Ã, 169 → ©; printable\nbytes keep their own character",
            va="top", fontsize=9, color=ACCENT)
    return fig


def toy_training(steps: int = 4):
    """The chapter's greedy loop on a toy corpus: for each step the counts, the chosen pair and the new words."""
    chunks = Counter({tuple("low"): 5, tuple("lower"): 2, tuple("newest"): 6, tuple("widest"): 3})
    history = [(None, None, dict(chunks))]
    for _ in range(steps):
        counts = Counter()
        for symbols, n in chunks.items():
            for pair in zip(symbols, symbols[1:]):
                counts[pair] += n
        best = max(counts, key=counts.get)  # ties go to the pair seen first, as in the chapter's train_bpe
        chunks = Counter({merge(symbols, best): n for symbols, n in chunks.items()})
        history.append((counts.most_common(3), best, dict(chunks)))
    return history


def draw_bpe_training():
    """Greedy BPE training on four words: count pairs, merge the most frequent, recount; the merge table grows."""
    history = toy_training()
    fig, ax = canvas(9.0, 4.9, "Training BPE: merge the most frequent pair, then count again")
    width_of = lambda s: 0.13 + 0.1 * len(s)
    words = ["low", "lower", "newest", "widest"]
    counts = {"low": 5, "lower": 2, "newest": 6, "widest": 3}
    col_x = [1.85, 2.75, 4.1, 5.7]
    top, dy = 3.95, 0.78
    ax.text(0.1, top + 0.45, "pair counts (top 3)", fontsize=9, color=MUTED)
    for x, word in zip(col_x, words):
        ax.text(x, top + 0.45, f"{word} ×{counts[word]}", fontsize=9, color=MUTED)
    ax.text(7.15, top + 0.45, "merge table: rank: pair → new", fontsize=9, color=MUTED)
    for step, (top3, best, chunks) in enumerate(history):
        y = top - step * dy
        if best is None:
            ax.text(0.1, y, "start: single letters", va="center", fontsize=9)
        else:
            for j, (pair, n) in enumerate(top3):
                chosen = pair == best
                ax.text(0.1, y + 0.2 - j * 0.2, f"({pair[0]}, {pair[1]})  {n}" + ("  ← merge" if chosen else ""),
                        va="center", fontsize=8.5 if not chosen else 9, color=RED if chosen else INK,
                        fontweight="bold" if chosen else "normal")
        for x, word in zip(col_x, words):
            symbols = next(s for s in chunks if "".join(s) == word)
            new = {i for i, s in enumerate(symbols) if best is not None and s == "".join(best)}
            symbol_strip(ax, x, y, symbols, h=0.3, fontsize=9, width_of=width_of, highlight=new)
        if best is not None:
            box(ax, 8.1, y, 1.6, 0.32, f"{step - 1}: {best[0]} + {best[1]} → {''.join(best)}", fc=GREEN,
                fontsize=8.5, round_=False)
        if step > 0:
            ax.plot([0.1, 8.95], [y + dy / 2, y + dy / 2], color=GREY, lw=0.8)
    ax.text(0.1, 0.35, "After merge 0, (s, t) is gone and (w, e) fell from 8 to 2: \"es\" took their letters. Counts change "
            "with every merge,\nso BPE picks merges one at a time and counts again after each, not the most "
            "frequent pairs of the first count.",
            fontsize=8.5, color=ACCENT, va="center")
    return fig


def draw_merge_by_rank():
    """Encoding ' café': at each step the adjacent pairs' ranks in GPT-2's merge table; the lowest rank merges."""
    fig, ax = canvas(8.6, 4.6, "Encoding applies the learned merges by rank: lowest rank first")
    symbols = list(CAFE_SYMBOLS)
    width_of = lambda s: 0.3 + 0.14 * len(s)
    top, dy = 3.55, 0.58
    ax.text(0.15, top + 0.38, "symbols (the pair that merges next in yellow)", fontsize=9, color=MUTED)
    ax.text(3.4, top + 0.38, "rank of each adjacent pair in vocab.bpe (— = no such merge)", fontsize=9,
            color=MUTED)
    for step in range(6):
        y = top - step * dy
        pairs = list(zip(symbols, symbols[1:]))
        best = min((p for p in pairs if p in CAFE_RANKS), key=CAFE_RANKS.get, default=None)
        hi = {k for i, p in enumerate(pairs) if p == best for k in (i, i + 1)}
        symbol_strip(ax, 0.15, y, symbols, h=0.34, width_of=width_of, highlight=hi)
        if best is None:
            box(ax, 4.15, y, 1.5, 0.34, f"id {CAFE_ID}", fc=GREEN, round_=False)
            ax.text(5.05, y, "no pair has a merge: look the\nstring up in encoder.json", va="center", fontsize=9)
            break
        x = 3.4
        for pair in pairs:
            rank = CAFE_RANKS.get(pair)
            label = f"{pair[0]}+{pair[1]}: " + ("—" if rank is None else f"{rank:,}")
            chosen = pair == best
            ax.text(x, y, label, va="center", fontsize=9, color=RED if chosen else INK,
                    fontweight="bold" if chosen else "normal")
            x += 0.25 + 0.075 * len(label)
        symbols = merge(symbols, best)
    ax.text(0.15, 0.25, "a+f (1,622) outranks Ã+© (2,378) but never merges: Ġc+a (1,019) takes the a first. "
            "f+Ã has no rank at all.", fontsize=9, color=ACCENT)
    return fig


FIGURES = {
    "ch01_bytes_to_symbols": draw_bytes_to_symbols,
    "ch01_bpe_training": draw_bpe_training,
    "ch01_merge_by_rank": draw_merge_by_rank,
}
