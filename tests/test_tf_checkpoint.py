"""gpt2_lib.tf_checkpoint against TensorFlow itself: checkpoints TensorFlow wrote, and OpenAI's real index."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt2_lib import tf_checkpoint as tfc
from gpt2_lib.pretrained import config_from_hparams
from gpt2_lib.testing import random_openai_tensors, write_tf_checkpoint

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "gpt2" / "124M"  # OpenAI's real index and the first 3 MiB of its weights
needs_real = pytest.mark.skipif(not (REAL / "model.ckpt.index").is_file(),
                                reason="no offline copy of OpenAI's 124M files")


@pytest.fixture(scope="module")
def tf():
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed")
    return tfc.import_tensorflow()


def test_torch_compile_still_loads_after_import_tensorflow(tf):
    """TensorFlow and Triton each bundle LLVM; loaded after TensorFlow, Triton used to abort the whole process."""
    code = ("from gpt2_lib.tf_checkpoint import import_tensorflow; import_tensorflow(); "
            "import torch._dynamo, torch._inductor; print('both loaded')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "both loaded", done.stderr[-2000:]


def openai_like(seed: int = 0) -> dict:
    """Random float32 tensors with OpenAI's exact names and shape pattern, for a GPT-2 of 2 blocks of width 64."""
    hparams = {"n_vocab": 100, "n_ctx": 32, "n_embd": 64, "n_head": 4, "n_layer": 2}
    return random_openai_tensors(config_from_hparams(hparams), seed)


def mixed_dtypes(seed: int = 1) -> dict:
    """One tensor of each supported dtype, a scalar, an empty tensor and a name that sorts between others."""
    rng = np.random.default_rng(seed)
    return {
        "a/f64": rng.standard_normal((3, 2)), "a/f16": rng.standard_normal(5).astype(np.float16),
        "b/i32": rng.integers(-9, 9, (2, 3, 4), dtype=np.int32), "b/i64": rng.integers(-9, 9, 7, dtype=np.int64),
        "c/u8": rng.integers(0, 255, 6, dtype=np.uint8), "c/i8": rng.integers(-9, 9, 6, dtype=np.int8),
        "c/i16": rng.integers(-9, 9, 6, dtype=np.int16), "c/u16": rng.integers(0, 9, 6, dtype=np.uint16),
        "d/bool": rng.random(9) > 0.5, "e/scalar": np.float32(3.5), "e/empty": np.zeros((0, 4), np.float32),
        "h10": np.arange(3, dtype=np.float32), "h2": np.arange(4, dtype=np.float32),  # bytes order: h10 < h2
    }


def tf_save(tf, prefix: Path, tensors: dict) -> Path:
    """Write a checkpoint with TensorFlow's SaveV2 op, names sorted (as OpenAI's was written)."""
    names = sorted(tensors)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    return prefix


def real_prefix(tmp_path: Path) -> Path:
    """OpenAI's real index beside its first 3 MiB of weights, under the names a checkpoint has."""
    shutil.copyfile(REAL / "model.ckpt.index", tmp_path / "model.ckpt.index")
    shutil.copyfile(REAL / "model.ckpt.data-00000-of-00001.first-3MiB", tmp_path / "model.ckpt.data-00000-of-00001")
    return tmp_path / "model.ckpt"


def test_every_tensor_equals_tensorflows_on_a_checkpoint_tensorflow_wrote(tf, tmp_path):
    tensors = openai_like() | mixed_dtypes()
    prefix = tf_save(tf, tmp_path / "model.ckpt", tensors)
    ours, reference = tfc.read(prefix), tf.train.load_checkpoint(str(prefix))
    assert set(ours) == set(reference.get_variable_to_shape_map()) == set(tensors)
    for name, array in ours.items():
        theirs = reference.get_tensor(name)
        assert array.dtype == theirs.dtype and array.shape == theirs.shape, \
            f"{name}: {array.dtype}{array.shape} vs TensorFlow's {theirs.dtype}{theirs.shape}"
        assert np.array_equal(array, theirs), f"{name}: values differ from TensorFlow's"


def test_listing_reports_what_tensorflow_reports(tf, tmp_path):
    tensors = openai_like() | mixed_dtypes()
    prefix = tf_save(tf, tmp_path / "model.ckpt", tensors)
    infos = tfc.list_tensors(prefix)
    reference = tf.train.load_checkpoint(str(prefix))
    assert {n: list(i.shape) for n, i in infos.items()} == reference.get_variable_to_shape_map()
    dtypes = reference.get_variable_to_dtype_map()
    assert {n: i.dtype for n, i in infos.items()} == {n: np.dtype(d.as_numpy_dtype) for n, d in dtypes.items()}
    assert list(infos) == sorted(tensors, key=str.encode), "tensors are listed in the index's (byte) order"
    ends = sorted((i.offset, i.offset + i.size) for i in infos.values())
    assert all(a[1] == b[0] for a, b in zip(ends, ends[1:])), "tensors lie back to back in the data file"


def test_tensorflow_path_and_ours_give_identical_arrays(tf, tmp_path):
    prefix = tf_save(tf, tmp_path / "model.ckpt", openai_like())
    ours, theirs = tfc.read(prefix), tfc.read_with_tensorflow(prefix)
    assert list(ours) == list(theirs)
    for name in ours:
        assert ours[name].dtype == theirs[name].dtype and np.array_equal(ours[name], theirs[name]), name


def test_writer_output_is_byte_identical_to_tensorflows(tf, tmp_path):
    tensors = openai_like() | mixed_dtypes()
    tf_save(tf, tmp_path / "tf" / "model.ckpt", tensors)
    write_tf_checkpoint(tmp_path / "ours" / "model.ckpt", tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        theirs = (tmp_path / "tf" / f"model.ckpt{suffix}").read_bytes()
        ours = (tmp_path / "ours" / f"model.ckpt{suffix}").read_bytes()
        assert ours == theirs, f"model.ckpt{suffix}: {len(ours)} bytes, TensorFlow wrote {len(theirs)}"


def test_an_index_of_several_blocks_is_written_and_read_as_tensorflow_does(tf, tmp_path):
    # ~9,000 entries make an index larger than one 256 KiB block: the index block then names several blocks
    tensors = {f"layer_{i:05d}/a_rather_long_name_for_a_tiny_tensor": np.full(1, i, np.float32) for i in range(9000)}
    tf_save(tf, tmp_path / "tf" / "model.ckpt", tensors)
    write_tf_checkpoint(tmp_path / "ours" / "model.ckpt", tensors)
    theirs = (tmp_path / "tf" / "model.ckpt.index").read_bytes()
    assert (tmp_path / "ours" / "model.ckpt.index").read_bytes() == theirs
    footer = theirs[-tfc.FOOTER_SIZE:]
    _, p = tfc._varint(footer, 0)
    _, p = tfc._varint(footer, p)
    index_offset, p = tfc._varint(footer, p)
    index_size, _ = tfc._varint(footer, p)
    blocks = list(tfc._block_entries(tfc._read_block(theirs, index_offset, index_size, Path("x"))))
    assert len(blocks) > 1, "the test needs an index of more than one data block"
    arrays = tfc.read(tmp_path / "tf" / "model.ckpt")
    assert [int(a[0]) for a in arrays.values()] == list(range(9000))


def test_masked_crc_is_tensorflows_and_unmask_inverts_it():
    assert tfc.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    rng = np.random.default_rng(0)
    for crc in [0, 1, 0xFFFFFFFF, *rng.integers(0, 2**32, 1000).tolist()]:
        assert tfc.unmask_crc(tfc.mask_crc(crc)) == crc
    assert tfc.mask_crc(0x294E74D2) == 0x8C273D74  # model/h0/attn/c_attn/b of OpenAI's 124M: data vs index


@needs_real
def test_real_index_lists_the_148_tensors_tensorflow_lists(tf):
    infos = tfc.list_tensors(REAL / "model.ckpt")
    reference = tf.train.load_checkpoint(str(REAL / "model.ckpt"))  # reads only the index for this
    assert len(infos) == 148
    assert {n: list(i.shape) for n, i in infos.items()} == reference.get_variable_to_shape_map()
    assert all(i.dtype == np.float32 and i.shard == 0 for i in infos.values())
    assert sum(i.numel for i in infos.values()) == 124_439_808
    assert max(i.offset + i.size for i in infos.values()) == 497_759_232, "the size of OpenAI's weights file"


@needs_real
def test_reads_real_c_attn_bias_from_the_3mib_prefix_with_a_passing_crc32c(tmp_path):
    prefix = real_prefix(tmp_path)
    info = tfc.list_tensors(prefix)["model/h0/attn/c_attn/b"]
    assert (info.offset, info.size, info.shape) == (0, 9216, (2304,))
    bias = tfc.read(prefix, ["model/h0/attn/c_attn/b"])["model/h0/attn/c_attn/b"]  # verify=True by default
    np.testing.assert_array_equal(bias[:4], np.array([0.48033914, -0.5254326, -0.42926455, -0.2059525], np.float32))
    inside = [n for n, i in tfc.list_tensors(prefix).items() if i.offset + i.size <= 3 * 2**20]
    assert inside == ["model/h0/attn/c_attn/b"], "the next tensor, c_attn/w (6.75 MiB), ends past the prefix"


@needs_real
def test_a_tensor_past_the_end_of_a_truncated_file_is_an_error_naming_it(tmp_path):
    prefix = real_prefix(tmp_path)
    with pytest.raises(tfc.CheckpointError, match=r"model/wte lies at bytes .* only 3,145,728 bytes: it is truncated"):
        tfc.read(prefix, ["model/wte"])


def test_a_damaged_tensor_is_an_error_naming_the_tensor(tmp_path):
    tensors = openai_like()
    prefix = tmp_path / "model.ckpt"
    write_tf_checkpoint(prefix, tensors)
    info = tfc.list_tensors(prefix)["model/h1/mlp/c_fc/w"]
    data = tfc.data_path(prefix, 0, 1)
    raw = bytearray(data.read_bytes())
    raw[info.offset + 1000] ^= 0x01  # one flipped bit
    data.write_bytes(bytes(raw))
    with pytest.raises(tfc.CorruptTensorError, match="model/h1/mlp/c_fc/w: crc32c") as e:
        tfc.read(prefix)
    assert e.value.tensor == "model/h1/mlp/c_fc/w"
    assert "model/h1/mlp/c_fc/b" in tfc.read(prefix, ["model/h1/mlp/c_fc/b"]), "the other tensors still read"
    assert tfc.read(prefix, verify=False)["model/h1/mlp/c_fc/w"].shape == (1, 64, 256)


def test_a_damaged_index_block_fails_its_checksum(tmp_path):
    prefix = tmp_path / "model.ckpt"
    write_tf_checkpoint(prefix, openai_like())
    index = Path(f"{prefix}.index")
    raw = bytearray(index.read_bytes())
    raw[40] ^= 0x01
    index.write_bytes(bytes(raw))
    with pytest.raises(tfc.CheckpointError, match="fails its crc32c: the index file is damaged"):
        tfc.list_tensors(prefix)


def test_a_file_that_is_not_a_table_is_rejected_by_name(tmp_path):
    (tmp_path / "model.ckpt.index").write_bytes(b"{not a checkpoint}" * 10)
    with pytest.raises(tfc.CheckpointError, match=r"model.ckpt.index is not a TensorFlow checkpoint index"):
        tfc.list_tensors(tmp_path / "model.ckpt")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint index at .*nothing.index; `prefix` is"):
        tfc.list_tensors(tmp_path / "nothing")


def test_reading_some_names_reads_only_those_and_unknown_names_are_listed(tmp_path):
    prefix = tmp_path / "model.ckpt"
    tensors = openai_like()
    write_tf_checkpoint(prefix, tensors)
    got = tfc.read(prefix, ["model/wpe", "model/ln_f/g"])
    assert list(got) == ["model/wpe", "model/ln_f/g"]
    np.testing.assert_array_equal(got["model/wpe"], tensors["model/wpe"])
    with pytest.raises(KeyError, match=r"\['model/h9/attn/c_attn/w'\]"):
        tfc.read(prefix, ["model/wpe", "model/h9/attn/c_attn/w"])


def test_copy_false_gives_read_only_views_of_the_file(tmp_path):
    prefix = tmp_path / "model.ckpt"
    tensors = openai_like()
    write_tf_checkpoint(prefix, tensors)
    views = tfc.read(prefix, copy=False)
    assert all(not v.flags.writeable for v in views.values())
    assert isinstance(views["model/wte"].base, np.memmap) or isinstance(views["model/wte"], np.memmap)
    copies = tfc.read(prefix)
    assert all(c.flags.writeable and not isinstance(c, np.memmap) for c in copies.values())
    for name in tensors:
        np.testing.assert_array_equal(views[name], copies[name])


def test_writer_rejects_dtypes_a_checkpoint_cannot_hold(tmp_path):
    with pytest.raises(tfc.CheckpointError, match="s/str: dtype <U1 cannot be written"):
        write_tf_checkpoint(tmp_path / "model.ckpt", {"s/str": np.array(["a"])})


def test_an_index_entry_decodes_as_its_protobuf_fields_say():
    # the 124M index's entry for model/h0/attn/c_attn/w, with a made-up crc: dtype 1 (float), shape [1, 768, 2304],
    # offset 9,216 (field 4), size 7,077,888 (field 5), masked crc32c (field 6, fixed32)
    entry = bytes.fromhex("0801" "120e" "12020801" "1203088006" "1203088012" "208048" "288080b003")
    info = tfc._parse_entry("w", entry + b"\x35" + struct.pack("<I", 0x12345678))
    assert (info.dtype, info.shape, info.shard, info.offset, info.size) == \
        (np.float32, (1, 768, 2304), 0, 9216, 7077888)
    assert tfc.mask_crc(info.crc32c) == 0x12345678
    with pytest.raises(tfc.CheckpointError, match="w: the index says 7,077,888 bytes, but shape .* needs"):
        tfc._parse_entry("w", entry.replace(bytes.fromhex("1203088012"), bytes.fromhex("1203088013")))
