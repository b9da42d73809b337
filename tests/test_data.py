"""Chapter 2's windows: targets are inputs shifted by one, batches reproducible, short text a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpt2_lib.data import TokenWindows, make_loader


def test_target_is_input_shifted_by_one():
    ds = TokenWindows(list(range(100)), block_size=8)
    for i in range(len(ds)):
        x, y = ds[i]
        assert torch.equal(x + 1, y) and x.dtype == torch.int64 and x.shape == (8,)


@pytest.mark.parametrize("n, block, stride, expected", [(100, 8, 8, 12), (100, 8, 4, 23), (9, 8, None, 1), (100, 8, 1, 92)])
def test_number_of_windows(n, block, stride, expected):
    ds = TokenWindows(np.arange(n), block, stride)
    assert len(ds) == expected
    last_x, last_y = ds[len(ds) - 1]
    assert int(last_y[-1]) <= n - 1  # the last window stays inside the text
    assert int(ds[-1][0][0]) == int(last_x[0])


def test_windows_read_a_memmap_without_loading_it(tmp_path):
    path = tmp_path / "ids.bin"
    np.arange(1000, dtype=np.uint16).tofile(path)
    ids = np.memmap(path, dtype=np.uint16, mode="r")
    ds = TokenWindows(ids, block_size=16)
    assert np.shares_memory(ds.ids, ids), "the windows must read the file, not a copy of it"
    x, y = ds[3]
    assert x.tolist() == list(range(48, 64)) and y.tolist() == list(range(49, 65))


def test_text_shorter_than_one_block_is_a_clear_error():
    with pytest.raises(ValueError, match=r"has 8 tokens, but one window needs block_size \+ 1 = 9"):
        TokenWindows(list(range(8)), block_size=8)


@pytest.mark.parametrize("kwargs, match", [({"block_size": 0}, "block_size"), ({"block_size": 4, "stride": 0}, "stride")])
def test_bad_sizes_are_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenWindows(list(range(50)), **kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError):
        TokenWindows(list(range(20)), block_size=4)[100]


def test_loader_is_reproducible_and_leaves_global_rng_alone():
    ids = list(range(1000))
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = [x for x, _ in make_loader(ids, 16, 4, seed=7)]
    after = torch.rand(1)
    b = [x for x, _ in make_loader(ids, 16, 4, seed=7)]
    c = [x for x, _ in make_loader(ids, 16, 4, seed=8)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    assert torch.equal(before, after), "the loader must not consume the global RNG"


def test_loader_batches_cover_each_window_once_per_epoch():
    loader = make_loader(list(range(1000)), 10, 3, shuffle=True, seed=0, drop_last=False)
    starts = sorted(int(x[0]) for xb, _ in loader for x in xb)
    assert starts == list(range(0, 990, 10))


def test_loader_with_fewer_windows_than_a_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than batch_size=8"):
        make_loader(list(range(40)), 8, 8)
    assert len(make_loader(list(range(40)), 8, 8, drop_last=False)) == 1
