"""gpt2_lib.pretrained: OpenAI-format checkpoints into GPT (checked against transformers), HF format both ways, and
the download of OpenAI's files from a scripted local server (GPT2_LIB_BASE_URL), with the synthetic fallback."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt2_lib import pretrained as P
from gpt2_lib import testing as T
from gpt2_lib import tf_checkpoint as tfc
from gpt2_lib.download import DownloadError, Unreachable, cache_path
from gpt2_lib.model import GPT
from test_download import FakeServer, hang_up, serve, status  # the scripted loopback server of the download tests

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "gpt2" / "124M"
SMALL = {"n_vocab": 96, "n_ctx": 32, "n_embd": 64, "n_head": 4, "n_layer": 2}  # a GPT-2 small enough to be instant


@pytest.fixture(autouse=True)
def no_switches(monkeypatch):
    """Each test sets the environment it needs: CI may export GPT2_LIB_SYNTHETIC_WEIGHTS=1 for the notebooks."""
    for name in ("GPT2_LIB_SYNTHETIC_WEIGHTS", "GPT2_LIB_BASE_URL", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    srv = FakeServer()
    threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def make_openai_dir(folder: Path, hparams: dict = SMALL, seed: int = 1, edit=None) -> Path:
    """A folder in OpenAI's layout with random weights; `edit(tensors)` may break it on purpose first."""
    tensors = T.random_openai_tensors(P.config_from_hparams(hparams), seed)
    if edit:
        edit(tensors)
    return T.write_openai_checkpoint(folder, tensors, hparams)


@pytest.fixture
def openai_dir(tmp_path) -> Path:
    return make_openai_dir(tmp_path / "openai")


def hf_from_openai_arrays(arrays: dict[str, np.ndarray], hparams: dict):
    """transformers' GPT-2 holding OpenAI's arrays, mapped here without gpt2_lib: HF's Conv1D keeps (in, out)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=hparams["n_vocab"], n_positions=hparams["n_ctx"], n_embd=hparams["n_embd"],
                        n_layer=hparams["n_layer"], n_head=hparams["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).eval()
    sd = {}
    for name, array in arrays.items():
        key = re.sub(r"/h(\d+)/", r"/h/\1/", name).replace("model/", "transformer/")
        key = re.sub(r"/(w|g)$", "/weight", re.sub(r"/b$", "/bias", key)).replace("/", ".")
        key = key + ".weight" if key.endswith(("wte", "wpe")) else key
        sd[key] = torch.from_numpy(np.array(array[0] if array.ndim == 3 else array))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert set(missing) <= {"lm_head.weight"} and not unexpected, (missing, unexpected)
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    return model


def ids(n: int = 2, t: int = 24, vocab: int = SMALL["n_vocab"]) -> torch.Tensor:
    return torch.randint(0, vocab, (n, t), generator=torch.Generator().manual_seed(0))


def test_logits_match_transformers_on_a_synthetic_openai_checkpoint(openai_dir):
    model = P.from_openai(openai_dir)
    reference = hf_from_openai_arrays(tfc.read(openai_dir / "model.ckpt"), SMALL)
    with torch.no_grad():
        diff = (model(ids())[0] - reference(ids()).logits).abs().max().item()
    assert diff < 1e-4, f"max |logit difference| {diff:.2e} against transformers on the same weights"


def test_hparams_become_the_config_and_the_head_is_tied(openai_dir):
    model = GPT.from_openai(openai_dir)
    c = model.config
    assert (c.vocab_size, c.block_size, c.n_embd, c.n_head, c.n_layer, c.dropout) == (96, 32, 64, 4, 2, 0.0)
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert not model.training, "a loaded model starts in eval mode"
    assert P.from_openai(openai_dir, dropout=0.1).config.dropout == 0.1


def test_every_parameter_is_openais_tensor_with_conv1d_weights_transposed(openai_dir):
    arrays = tfc.read(openai_dir / "model.ckpt")
    params = dict(P.from_openai(openai_dir).named_parameters())
    for name, array in arrays.items():
        expected = torch.from_numpy(array[0].T.copy() if name.endswith("/w") else array)
        assert torch.equal(params[P.gpt2_lib_name(name)], expected), name


def test_openai_to_ours_to_hf_to_ours_round_trip_is_exact(openai_dir, tmp_path):
    from transformers import GPT2LMHeadModel

    model = P.from_openai(openai_dir)
    model.save_pretrained(tmp_path / "ours")
    hf, info = GPT2LMHeadModel.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert all(not v for v in info.values()), f"transformers reported problems loading our files: {info}"
    with torch.no_grad():
        diff = (model(ids())[0] - hf.eval()(ids()).logits).abs().max().item()
    assert diff < 1e-5, f"transformers' logits on our saved model differ by {diff:.2e}"
    hf.save_pretrained(tmp_path / "hf")  # transformers' own writer
    back = GPT.load_pretrained(tmp_path / "hf")
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), f"{name} changed on the way OpenAI -> ours -> HF -> ours"
    assert back.lm_head.weight.data_ptr() == back.transformer.wte.weight.data_ptr()


def test_save_pretrained_writes_safetensors_with_the_tied_head_once_and_a_gpt2_config(openai_dir, tmp_path):
    from safetensors import safe_open

    model = P.from_openai(openai_dir)
    folder = P.save_pretrained(model, tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"], "no .part files left"
    with safe_open(folder / "model.safetensors", "pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
    assert keys == set(model.state_dict()) - {"lm_head.weight"} and metadata == {"format": "pt"}
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["architectures"] == ["GPT2LMHeadModel"]
    assert (config["n_positions"], config["n_embd"], config["n_layer"], config["n_head"]) == (32, 64, 2, 4)
    assert P.load_pretrained(folder).config == model.config


def test_load_pretrained_reads_the_hubs_layout_without_prefix_and_with_mask_buffers(openai_dir, tmp_path):
    from safetensors.torch import save_file

    model = P.from_openai(openai_dir)
    P.save_pretrained(model, tmp_path / "hub")
    sd = {k.removeprefix("transformer."): v for k, v in model.to_hf_state_dict().items() if k != "lm_head.weight"}
    sd |= {f"h.{i}.attn.bias": torch.tril(torch.ones(1, 1, 32, 32)) for i in range(2)}  # as in the Hub's gpt2 file
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "hub" / "model.safetensors",
              metadata={"format": "pt"})
    back = P.load_pretrained(tmp_path / "hub")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))


def test_missing_or_unsafe_checkpoint_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint folder at .*nope: expected a folder with config.json"):
        P.load_pretrained(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="half lacks model.safetensors"):
        P.load_pretrained(tmp_path / "half")
    (tmp_path / "half" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match="PyTorch pickles .* model.safetensors only"):
        P.load_pretrained(tmp_path / "half")
    with pytest.raises(FileNotFoundError, match="is not a folder of OpenAI's GPT-2 release"):
        P.from_openai(tmp_path / "nope")


def test_unsupported_hf_settings_are_refused_by_name():
    config = {"model_type": "gpt2", "vocab_size": 96, "n_positions": 32, "n_embd": 64, "n_layer": 2, "n_head": 4}
    assert P.config_from_hf(config).n_embd == 64
    with pytest.raises(ValueError, match="activation_function='relu'"):
        P.config_from_hf(config | {"activation_function": "relu"})
    with pytest.raises(ValueError, match="not GPT-2"):
        P.config_from_hf(config | {"model_type": "llama"})


def test_a_wrong_shape_names_the_tensor_and_both_shapes(tmp_path):
    def transpose(t):
        t["model/h1/mlp/c_fc/w"] = np.ascontiguousarray(t["model/h1/mlp/c_fc/w"].transpose(0, 2, 1))

    folder = make_openai_dir(tmp_path / "bad", edit=transpose)
    with pytest.raises(ValueError, match=r"model/h1/mlp/c_fc/w: expected float32 of shape \(1, 64, 256\) .* "
                                         r"got float32 of shape \(1, 256, 64\)"):
        P.from_openai(folder)


def test_missing_and_unexpected_tensors_are_listed(tmp_path):
    def rename(t):
        t["model/h0/ln_1/gain"] = t.pop("model/h0/ln_1/g")

    folder = make_openai_dir(tmp_path / "bad", edit=rename)
    with pytest.raises(ValueError, match=r"missing model/h0/ln_1/g; unexpected model/h0/ln_1/gain"):
        P.from_openai(folder)
    deeper = make_openai_dir(tmp_path / "deeper", hparams=SMALL | {"n_layer": 3})
    shutil.copyfile(tmp_path / "bad" / "hparams.json", deeper / "hparams.json")  # says 2 layers, holds 3
    with pytest.raises(ValueError, match=r"missing none; unexpected model/h2/attn/c_attn/b, .* and 6 more"):
        P.from_openai(deeper)


def test_unknown_model_or_source_is_a_value_error():
    with pytest.raises(ValueError, match="unknown model 'gpt3'.*gpt2, gpt2-medium, gpt2-large, gpt2-xl"):
        P.from_pretrained("gpt3")
    with pytest.raises(ValueError, match="source must be 'openai' or 'hf', got 'tf'"):
        P.from_pretrained("gpt2", source="tf")


def test_gpt_methods_load_and_save_as_the_module_functions_do(openai_dir, tmp_path):
    model = GPT.from_openai(openai_dir)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 P.from_openai(openai_dir).state_dict().values()))
    loaded = GPT.load_pretrained(model.save_pretrained(tmp_path / "saved"))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values())), \
        "save_pretrained then load_pretrained changed a weight"


def test_mapping_covers_every_parameter_of_the_four_released_sizes():
    from gpt2_lib.model import GPTConfig

    for name in P.RELEASES:
        config = GPTConfig.from_name(name)
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            params = dict(GPT(config).named_parameters())
        shapes = P.openai_shapes(config)
        assert {P.gpt2_lib_name(n) for n in shapes} == set(params), name
        for n, shape in shapes.items():
            ours = tuple(params[P.gpt2_lib_name(n)].shape)
            assert ours == ((shape[2], shape[1]) if len(shape) == 3 else shape), f"{name} {n}: {shape} vs {ours}"
        assert sum(int(np.prod(s)) for s in shapes.values()) == sum(p.numel() for p in params.values())
    assert sum(int(np.prod(s)) for s in P.openai_shapes(GPTConfig.from_name("gpt2")).values()) == 124_439_808


# ---- downloading OpenAI's files -------------------------------------------------------------------------------


def serve_release(server: FakeServer, folder: Path, monkeypatch, *, weights=None, pin: bool = True) -> str:
    """Serve `folder` as <base>/124M/<file> (weights replaced by the given step), pin its small files; the base URL."""
    base = f"http://127.0.0.1:{server.server_port}/models"
    pins = {}
    for file in P.SMALL_FILES:
        body = (folder / file).read_bytes() if (folder / file).exists() else b"{}"
        server.script(f"/models/124M/{file}", serve(body))
        pins[file] = (len(body), hashlib.sha256(body).hexdigest())
    data = (folder / P.WEIGHTS).read_bytes()
    server.script(f"/models/124M/{P.WEIGHTS}", weights or serve(data))
    pins[P.WEIGHTS] = (len(data), None)
    monkeypatch.setitem(P.PINNED, "124M", pins if pin else {})
    monkeypatch.setenv("GPT2_LIB_BASE_URL", base)
    return base


def test_openai_files_downloads_verifies_and_then_serves_from_the_cache(server, openai_dir, tmp_path, monkeypatch):
    base = serve_release(server, openai_dir, monkeypatch)
    folder = P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False)
    assert folder == cache_path(f"{base}/124M/hparams.json", tmp_path / "cache").parent, "cached under the URL fetched"
    assert folder.parent.parent.name == f"127.0.0.1_{server.server_port}"
    assert (folder / P.WEIGHTS).read_bytes() == (openai_dir / P.WEIGHTS).read_bytes()
    assert len(server.requests) == 7
    assert P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False) == folder
    assert len(server.requests) == 7, "a verified cache needs no network"
    assert not P.is_synthetic(folder)
    model = P.from_pretrained("gpt2", cache_dir=tmp_path / "cache", progress=False)
    direct = P.from_openai(openai_dir)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), direct.state_dict().values()))


def test_a_damaged_weights_file_is_an_error_naming_the_tensor_and_is_removed(server, openai_dir, tmp_path, monkeypatch):
    info = tfc.list_tensors(openai_dir / "model.ckpt")["model/h1/attn/c_proj/w"]
    damaged = bytearray((openai_dir / P.WEIGHTS).read_bytes())
    damaged[info.offset + 7] ^= 0x10
    serve_release(server, openai_dir, monkeypatch, weights=serve(bytes(damaged)))
    with pytest.raises(DownloadError, match=r"failed verification: model/h1/attn/c_proj/w: crc32c .* Removed it"):
        P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False)
    assert len(server.hits(f"/models/124M/{P.WEIGHTS}")) == 2, "one fresh download before giving up"
    left = [f for f in (tmp_path / "cache").rglob(P.WEIGHTS + "*") if f.suffix != ".lock"]
    assert not left, "damaged bytes must not stay in the cache"


def test_a_small_file_that_fails_its_sha256_is_rejected(server, openai_dir, tmp_path, monkeypatch):
    serve_release(server, openai_dir, monkeypatch)
    hparams = json.dumps(SMALL | {"n_layer": 3}, indent=2).encode() + b"\n"
    server.script("/models/124M/hparams.json", serve(hparams))
    monkeypatch.setattr("gpt2_lib.download.time.sleep", lambda s: None)
    with pytest.raises(DownloadError, match=r"hparams.json failed verification: expected sha256"):
        P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False)


def test_without_the_synthetic_switch_missing_weights_are_an_error(server, openai_dir, tmp_path, monkeypatch):
    serve_release(server, openai_dir, monkeypatch, weights=status(404))
    with pytest.raises(DownloadError, match="404"):
        P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache" / "synthetic").exists()


def test_synthetic_switch_writes_random_weights_in_the_layout_apart_and_says_so(server, openai_dir, tmp_path,
                                                                                monkeypatch, capsys):
    serve_release(server, openai_dir, monkeypatch, weights=hang_up)  # the weights' server cannot be reached
    folder = P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False, allow_synthetic=True)
    assert folder == tmp_path / "cache" / "synthetic" / "gpt-2" / "models" / "124M" and P.is_synthetic(folder)
    assert "NOT GPT-2's weights" in (folder / P.SYNTHETIC_MARKER).read_text()
    err = capsys.readouterr().err
    assert "SYNTHETIC WEIGHTS: these are NOT GPT-2's weights" in err and "could not download" in err
    assert json.loads((folder / "hparams.json").read_text()) == SMALL, "the real hparams.json, where it was obtainable"
    infos = tfc.list_tensors(folder / "model.ckpt")
    assert {n: i.shape for n, i in infos.items()} == P.openai_shapes(P.config_from_hparams(SMALL))
    stamp = (folder / P.WEIGHTS).stat().st_mtime_ns
    model = GPT.from_pretrained("gpt2", cache_dir=tmp_path / "cache", progress=False, allow_synthetic=True)
    assert model.config.n_layer == 2 and (folder / P.WEIGHTS).stat().st_mtime_ns == stamp, "built once, then reused"
    assert "NOT GPT-2's weights" in capsys.readouterr().err, "every load says so again"


def test_the_environment_variable_alone_never_gives_synthetic_weights(server, openai_dir, tmp_path, monkeypatch):
    """GPT2_LIB_SYNTHETIC_WEIGHTS is the book's harness's switch: the library acts only on allow_synthetic."""
    serve_release(server, openai_dir, monkeypatch, weights=hang_up)  # the weights' server cannot be reached
    monkeypatch.setenv("GPT2_LIB_SYNTHETIC_WEIGHTS", "1")
    with pytest.raises(Unreachable):
        P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache" / "synthetic").exists(), "random weights without allow_synthetic=True"


def test_synthetic_124m_index_differs_from_openais_only_in_checksums(server, tmp_path, monkeypatch, capsys):
    if not (REAL / "model.ckpt.index").is_file():
        pytest.skip("no offline copy of OpenAI's 124M files")
    monkeypatch.setenv("GPT2_LIB_BASE_URL", f"http://127.0.0.1:{server.server_port}/models")
    for file in P.OPENAI_FILES:
        server.script(f"/models/124M/{file}", hang_up)  # nothing obtainable: even hparams.json is written anew
    folder = P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False, allow_synthetic=True)
    assert hashlib.sha256((folder / "hparams.json").read_bytes()).hexdigest() == P.PINNED["124M"]["hparams.json"][1]
    assert hashlib.sha256((folder / "checkpoint").read_bytes()).hexdigest() == P.PINNED["124M"]["checkpoint"][1]
    assert (folder / P.WEIGHTS).stat().st_size == 497_759_232
    real, ours = tfc.list_tensors(REAL / "model.ckpt"), tfc.list_tensors(folder / "model.ckpt")
    assert [(n, i.dtype, i.shape, i.offset, i.size) for n, i in real.items()] == \
           [(n, i.dtype, i.shape, i.offset, i.size) for n, i in ours.items()]
    patched = bytearray((REAL / "model.ckpt.index").read_bytes())
    for name in real:  # put our checksums where OpenAI's are: then only the block's own checksum may differ
        at = patched.index(b"\x35" + struct.pack("<I", tfc.mask_crc(real[name].crc32c)))
        patched[at + 1 : at + 5] = struct.pack("<I", tfc.mask_crc(ours[name].crc32c))
    written = (folder / "model.ckpt.index").read_bytes()
    differ = [i for i, (a, b) in enumerate(zip(patched, written, strict=True)) if a != b]
    assert len(differ) <= 4 and all(5130 <= i < 5134 for i in differ), f"bytes {differ} differ besides checksums"


def test_hf_source_downloads_config_and_safetensors_via_hf_endpoint(server, openai_dir, tmp_path, monkeypatch):
    model = P.from_openai(openai_dir)
    P.save_pretrained(model, tmp_path / "hub")
    for file in ("config.json", "model.safetensors"):
        server.script(f"/openai-community/gpt2/resolve/main/{file}", serve((tmp_path / "hub" / file).read_bytes()))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    loaded = GPT.from_pretrained("gpt2", source="hf", cache_dir=tmp_path / "cache", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert len(server.requests) == 2


# ---- what may fall back to random weights, and what is always an error (issue 18) ----------------------------


@pytest.mark.parametrize("damage", ["small file sha256", "weights size", "weights crc32c"])
def test_a_file_that_arrived_but_failed_verification_is_an_error_even_with_the_synthetic_switch(
        server, openai_dir, tmp_path, monkeypatch, damage):
    data = (openai_dir / P.WEIGHTS).read_bytes()
    if damage == "weights size":
        serve_release(server, openai_dir, monkeypatch, weights=serve(data[:-4]))
    elif damage == "weights crc32c":
        serve_release(server, openai_dir, monkeypatch, weights=serve(data[:100] + bytes([data[100] ^ 1]) + data[101:]))
    else:
        serve_release(server, openai_dir, monkeypatch)
        server.script("/models/124M/hparams.json", serve(b'{"n_vocab": 1}\n'))
    with pytest.raises(DownloadError, match="failed verification"):
        P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False, allow_synthetic=True)
    assert not (tmp_path / "cache" / "synthetic").exists(), "random weights must not stand in for a damaged file"


def test_with_the_synthetic_switch_a_missing_file_is_still_an_error(server, openai_dir, tmp_path, monkeypatch):
    serve_release(server, openai_dir, monkeypatch, weights=status(404))  # the server answered: not offline
    with pytest.raises(DownloadError, match="404"):
        P.openai_files("gpt2", cache_dir=tmp_path / "cache", progress=False, allow_synthetic=True)
    assert not (tmp_path / "cache" / "synthetic").exists()


# ---- Hugging Face's unpinned files: verified, and never kept when bad (issue 18) ------------------------------


def serve_hub(server: FakeServer, monkeypatch, config: bytes, weights: bytes) -> None:
    server.script("/openai-community/gpt2/resolve/main/config.json", serve(config))
    server.script("/openai-community/gpt2/resolve/main/model.safetensors", serve(weights))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr("gpt2_lib.download.time.sleep", lambda s: None)


@pytest.fixture
def hub_files(openai_dir, tmp_path) -> tuple[bytes, bytes]:
    P.save_pretrained(P.from_openai(openai_dir), tmp_path / "hub")
    return (tmp_path / "hub" / "config.json").read_bytes(), (tmp_path / "hub" / "model.safetensors").read_bytes()


@pytest.mark.parametrize("which", ["truncated safetensors", "html config"])
def test_hf_download_that_fails_its_checks_is_an_error_and_not_cached(server, hub_files, tmp_path, monkeypatch,
                                                                      which):
    config, weights = hub_files
    if which == "html config":
        config = b"<html>Not found</html>"
    else:
        weights = weights[: len(weights) // 2]
    serve_hub(server, monkeypatch, config, weights)
    with pytest.raises(DownloadError, match="failed verification"):
        GPT.from_pretrained("gpt2", source="hf", cache_dir=tmp_path / "cache", progress=False)
    kept = [f.name for f in (tmp_path / "cache").rglob("*") if f.is_file() and f.suffix != ".lock"]
    assert kept in ([], ["config.json"]), f"a file that failed its check was kept: {kept}"


def test_a_bad_cached_hf_file_is_named_replaced_and_loaded(server, hub_files, tmp_path, monkeypatch):
    config, weights = hub_files
    serve_hub(server, monkeypatch, config, weights)
    cached = cache_path(f"http://127.0.0.1:{server.server_port}/openai-community/gpt2/resolve/main/model.safetensors",
                        tmp_path / "cache")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights[:1000])  # what an older version kept from a dropped connection
    with pytest.warns(UserWarning, match=re.escape(str(cached))):
        GPT.from_pretrained("gpt2", source="hf", cache_dir=tmp_path / "cache", progress=False)
    assert cached.read_bytes() == weights


# ---- a damaged folder given to load_pretrained: one line naming the file (issue 18) ---------------------------


@pytest.fixture
def saved(openai_dir, tmp_path) -> Path:
    return P.save_pretrained(P.from_openai(openai_dir), tmp_path / "saved")


@pytest.mark.parametrize("damage, file, message", [
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-100]),
     "model.safetensors", "truncated"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 4), "model.safetensors", "safetensors header"),
    (lambda d: (d / "config.json").write_text('{"n_embd": 64,'), "config.json", "not valid JSON"),
    (lambda d: (d / "config.json").write_text("[1, 2]"), "config.json", "holds a JSON list"),
    (lambda d: (d / "config.json").write_text(json.dumps({k: v for k, v in json.loads(
        (d / "config.json").read_text()).items() if k != "n_head"})), "config.json", "lacks n_head"),
])
def test_a_damaged_checkpoint_is_one_value_error_naming_the_file(saved, damage, file, message):
    damage(saved)
    with pytest.raises(ValueError) as err:
        P.load_pretrained(saved)
    text = str(err.value)
    assert str(saved / file) in text and message in text and "\n" not in text, text


def test_a_data_folder_or_a_run_folder_is_named_for_what_it_is(saved, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.bin", "val.bin", "meta.json"):
        (data / name).write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="token ids written by `prepare`") as err:
        P.load_pretrained(data)
    assert "pickle" not in str(err.value)
    run = tmp_path / "run"
    for step in ("000100", "000200"):
        shutil.copytree(saved, run / f"checkpoint-{step}")
    with pytest.raises(ValueError, match=re.escape(str(run / "checkpoint-000200"))):
        P.load_pretrained(run)


def test_save_pretrained_gives_its_files_the_modes_of_the_umask(tmp_path):
    import os
    import stat

    from gpt2_lib.model import GPTConfig

    umask = os.umask(0o022)  # the usual one: safetensors alone would leave model.safetensors at 0600
    try:
        folder = P.save_pretrained(GPT(GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=8)),
                                   tmp_path / "model")
    finally:
        os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes == {"model.safetensors": 0o644, "config.json": 0o644}, f"modes {modes}, umask 022"


def test_openai_and_our_names_map_both_ways_for_every_tensor():
    config = P.config_from_hparams(SMALL)
    ours = [P.gpt2_lib_name(n) for n in P.openai_shapes(config)]
    assert set(ours) == set(dict(GPT(config).named_parameters())), "the mapping misses or invents a parameter"
    back = {P.openai_name(n) for n in ours}
    assert back == set(P.openai_shapes(config)), f"openai_name(gpt2_lib_name(n)) != n: {back ^ set(P.openai_shapes(config))}"


def _build_synthetic(cache: str) -> str:
    from gpt2_lib.testing import synthetic_openai_files

    return str(synthetic_openai_files("gpt2", cache_dir=cache))


def test_parallel_workers_build_the_synthetic_weights_once_without_tripping_over_each_other(tmp_path):
    # pytest-xdist workers (and torchrun ranks) ask for the random stand-in at the same moment; each used to delete
    # the others' half-written folder (FileNotFoundError on model.ckpt.index, seen on a 15-worker GPU run)
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(3) as pool:
        folders = pool.map(_build_synthetic, [str(tmp_path)] * 3)
    assert len(set(folders)) == 1
    assert not [p.name for p in Path(folders[0]).parent.iterdir() if ".tmp" in p.name], "a half-built folder was left"
