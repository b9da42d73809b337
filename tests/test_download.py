"""gpt2_lib.download against a scripted local HTTP server: resume, retries, verification, the cache and seeding."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpt2_lib import download
from gpt2_lib.download import DownloadError, RemoteFile, cache_path, fetch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BODY = bytes(range(256)) * 400  # 102,400 bytes: several read chunks, every byte value
SHA = hashlib.sha256(BODY).hexdigest()


# Steps: what the server does for one request. A route replays its steps in order and repeats the last one.

def serve(body: bytes, *, ranges: bool = True, cut: int | None = None):
    """Send `body` (from the requested offset with a 206 when `ranges`), hanging up after `cut` bytes if given."""
    def step(h: BaseHTTPRequestHandler) -> None:
        m = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        start = int(m[1]) if m and ranges else 0
        if start >= len(body) > 0:
            h.send_response(416)
            h.send_header("Content-Range", f"bytes */{len(body)}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        h.send_header("Content-Length", str(len(body) - start))  # always the full length, even when we cut
        h.end_headers()
        h.wfile.write(body[start:][:cut])
    return step


def status(code: int):
    """Answer with an HTTP error status."""
    return lambda h: h.send_error(code)


def hang_up(h: BaseHTTPRequestHandler) -> None:
    """Close the connection without sending a response."""


def slow(h: BaseHTTPRequestHandler) -> None:
    """Answer only after the client's timeout has passed."""
    time.sleep(0.1)
    serve(BODY)(h)


def resume_from_zero(h: BaseHTTPRequestHandler) -> None:
    """Answer a Range request with a 206 that restarts at byte 0, a body that must not be appended."""
    h.send_response(206)
    h.send_header("Content-Range", f"bytes 0-{len(BODY) - 1}/{len(BODY)}")
    h.send_header("Content-Length", str(len(BODY)))
    h.end_headers()
    h.wfile.write(BODY)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        steps = self.server.routes[self.path]
        (steps.pop(0) if len(steps) > 1 else steps[0])(self)

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


class FakeServer(ThreadingHTTPServer):
    """A throw-away server on 127.0.0.1 that plays scripted steps per path and logs every request it gets."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list] = {}
        self.requests: list[tuple[str, dict]] = []

    def script(self, path: str, *steps) -> str:
        """Play `steps` for `path`, one per request; return its URL."""
        self.routes[path] = list(steps)
        return f"http://127.0.0.1:{self.server_port}{path}"

    def hits(self, path: str) -> list[dict]:
        """The headers of every request made for `path`."""
        return [headers for p, headers in self.requests if p == path]

    def handle_error(self, request, client_address) -> None:  # clients hang up on purpose in these tests
        pass


@pytest.fixture
def server():
    srv = FakeServer()
    threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True).start()  # poll fast: quick shutdown
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def get(url: str, cache: Path, **kwargs) -> Path:
    """fetch as the tests call it: no progress bar, no waiting between retries, the body's sha256 and size expected."""
    kwargs = {"sha256": SHA, "size": len(BODY), "backoff": 0, "progress": False, **kwargs}
    return fetch(url, cache_dir=cache, **kwargs)


def files_under(directory: Path) -> list[Path]:
    """The files in the cache, less the empty .lock files that let one process at a time write an entry."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix != ".lock")


def test_fetch_downloads_verifies_and_stores_at_cache_path(server, cache):
    url = server.script("/data/body.bin", serve(BODY))
    path = get(url, cache)
    assert path == cache_path(url, cache) == cache / f"127.0.0.1_{server.server_port}" / "data" / "body.bin"
    assert path.read_bytes() == BODY
    assert files_under(cache) == [path], "only the final file should remain, no .part"


def test_cached_file_is_served_without_touching_the_network(server, cache):
    url = server.script("/body.bin", serve(BODY))
    path = get(url, cache)
    server.script("/body.bin", status(500))  # any request from now on would be a bug
    assert get(url, cache, retries=0) == path
    assert len(server.requests) == 1
    server.shutdown()
    server.server_close()
    assert get(url, cache, retries=0).read_bytes() == BODY


def test_dropped_connection_resumes_with_range(server, cache):
    url = server.script("/body.bin", serve(BODY, cut=len(BODY) // 2), serve(BODY))
    assert get(url, cache).read_bytes() == BODY
    first, second = server.hits("/body.bin")
    assert "Range" not in first
    assert second["Range"] == f"bytes={len(BODY) // 2}-"


def test_body_that_never_completes_raises_after_retries_without_final_file(server, cache):
    url = server.script("/body.bin", serve(BODY, ranges=False, cut=1000))
    with pytest.raises(DownloadError) as err:
        get(url, cache, retries=2)
    message = str(err.value)
    assert url in message and "3 attempts" in message and "incomplete body" in message
    assert "GPT2_LIB_MIRROR" in message and str(cache_path(url, cache)) in message, "it should say how to work offline"
    assert "download seed" not in message, "seed fills only the book's registry, not any URL"
    assert isinstance(err.value, download.Unreachable)
    assert len(server.requests) == 3
    assert not cache_path(url, cache).exists()


def test_wrong_bytes_raise_with_both_sha256_and_leave_nothing_in_cache(server, cache):
    wrong = BODY[::-1]
    url = server.script("/body.bin", serve(wrong))
    with pytest.raises(DownloadError) as err:
        get(url, cache)
    message = str(err.value)
    assert url in message and SHA in message and hashlib.sha256(wrong).hexdigest() in message
    assert len(server.requests) == 2, "a failed check should get exactly one fresh download"
    assert files_under(cache) == [], "bytes that failed a check must not stay in the cache, not even as .part"


def test_wrong_size_reports_expected_and_actual_bytes(server, cache):
    url = server.script("/body.bin", serve(BODY[:-1]))
    with pytest.raises(DownloadError, match=f"expected {len(BODY)} bytes, got {len(BODY) - 1}"):
        get(url, cache)
    assert files_under(cache) == []


def test_404_fails_at_once_naming_status_and_url(server, cache):
    url = server.script("/missing.bin", status(404))
    with pytest.raises(DownloadError) as err:
        get(url, cache)
    assert "404" in str(err.value) and url in str(err.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("failure", [status(500), status(503), status(429), hang_up],
                         ids=["500", "503", "429", "hang-up"])
def test_transient_failure_is_retried(server, cache, failure):
    url = server.script("/body.bin", failure, serve(BODY))
    assert get(url, cache).read_bytes() == BODY
    assert len(server.requests) == 2


def test_timeout_is_retried_then_reported(server, cache):
    url = server.script("/body.bin", slow)
    with pytest.raises(DownloadError, match="2 attempts.*timed out"):
        get(url, cache, retries=1, timeout=0.05)


def test_backoff_doubles_between_retries(server, cache, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    url = server.script("/body.bin", status(500), status(500), status(500), serve(BODY))
    get(url, cache, backoff=0.5)
    assert sleeps == [0.5, 1.0, 2.0]


def test_server_ignoring_range_restarts_the_stale_part_file(server, cache):
    url = server.script("/body.bin", serve(BODY, ranges=False))
    dest = cache_path(url, cache)
    dest.parent.mkdir(parents=True)
    dest.with_name("body.bin.part").write_bytes(b"stale bytes from some other file")
    assert get(url, cache, sha256=None, size=None).read_bytes() == BODY  # unverified: the restart alone must be right
    assert [h.get("Range") for h in server.hits("/body.bin")] == ["bytes=32-"]


def test_part_file_longer_than_the_file_is_discarded_on_416(server, cache):
    url = server.script("/body.bin", serve(BODY))
    dest = cache_path(url, cache)
    dest.parent.mkdir(parents=True)
    dest.with_name("body.bin.part").write_bytes(BODY + b"junk")
    assert get(url, cache, retries=0).read_bytes() == BODY
    assert [h.get("Range") for h in server.hits("/body.bin")] == [f"bytes={len(BODY) + 4}-", None]


def test_resume_at_the_wrong_offset_is_not_appended(server, cache):
    url = server.script("/body.bin", resume_from_zero, serve(BODY))
    dest = cache_path(url, cache)
    dest.parent.mkdir(parents=True)
    dest.with_name("body.bin.part").write_bytes(BODY[:100])
    assert get(url, cache, sha256=None, size=None).read_bytes() == BODY  # unverified: nothing else would catch it
    assert [h.get("Range") for h in server.hits("/body.bin")] == ["bytes=100-", None]


def test_corrupt_cached_file_is_replaced_by_a_fresh_download(server, cache):
    url = server.script("/body.bin", serve(BODY))
    dest = cache_path(url, cache)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x" * len(BODY))
    with pytest.warns(UserWarning, match="not the file expected"):
        assert get(url, cache).read_bytes() == BODY
    assert len(server.requests) == 1


def test_cache_dir_is_argument_then_env_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GPT2_LIB_CACHE", raising=False)
    assert download.cache_dir() == tmp_path / "home" / ".cache" / "gpt2_lib"
    monkeypatch.setenv("GPT2_LIB_CACHE", str(tmp_path / "env"))
    assert download.cache_dir() == tmp_path / "env"
    assert cache_path("https://example.com/a/b.txt") == tmp_path / "env" / "example.com" / "a" / "b.txt"
    assert download.cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_cache_path_mirrors_the_url_and_rejects_dot_dot(tmp_path):
    url = download.FILES["tinyshakespeare.txt"].url
    expected = "raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    assert cache_path(url, tmp_path) == tmp_path / expected
    for bad in ["https://example.com/../etc/passwd", "https://example.com/a/../../b", "https://example.com/",
                "file:///etc/passwd"]:
        with pytest.raises(ValueError):
            cache_path(bad, tmp_path)


def test_seed_cache_matches_by_content_not_name(tmp_path, cache, monkeypatch):
    other = b"another file"
    files = {"body.bin": RemoteFile("https://example.invalid/x/body.bin", SHA, len(BODY)),
             "absent.bin": RemoteFile("https://example.invalid/absent.bin", hashlib.sha256(other).hexdigest(), 12)}
    monkeypatch.setattr(download, "FILES", files)
    mirror = tmp_path / "mirror"
    (mirror / "deep").mkdir(parents=True)
    (mirror / "deep" / "renamed.dat").write_bytes(BODY)
    (mirror / "absent.bin").write_bytes(b"same length!")  # right name and size, wrong content
    (mirror / "noise.txt").write_bytes(b"unrelated")
    dest = cache_path(files["body.bin"].url, cache)
    assert download.seed_cache(mirror, cache) == [dest]
    assert files_under(cache) == [dest] and dest.read_bytes() == BODY
    # seeded, fetch needs no network: example.invalid would not resolve
    assert download.fetch_file("body.bin", cache_dir=cache, retries=0, progress=False) == dest


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs the offline copies in ../shared")
def test_seed_cache_from_shared_fills_every_registry_entry(cache):
    seeded = download.seed_cache(SHARED, cache)
    assert sorted(seeded) == sorted(cache_path(f.url, cache) for f in download.FILES.values())


def test_fetch_file_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="tinyshakespeare.txt"):
        download.fetch_file("no-such-file")


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GPT2_LIB_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "gpt2_lib.download", *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=30)


def test_cli_unknown_name_prints_one_error_line_and_exits_1(cache):
    result = run_cli("fetch", "no-such-file", cache=cache)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr


def test_cli_fetch_url_prints_the_cached_path(server, cache):
    url = server.script("/body.bin", serve(BODY))
    result = run_cli("fetch", url, cache=cache)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == cache_path(url, cache)


def slow_once(delay: float):
    """Serve BODY after `delay` seconds: long enough for other clients to arrive while the first one downloads."""
    def step(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        serve(BODY)(h)
    return step


def test_three_threads_fetching_one_url_share_one_download(server, cache):
    url = server.script("/body.bin", slow_once(0.3))
    results, errors = [], []

    def worker() -> None:
        try:
            results.append(get(url, cache))
        except Exception as e:  # noqa: BLE001 - the test reports whatever a thread died of
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, f"threads failed: {errors}"
    assert results == [cache_path(url, cache)] * 3 and results[0].read_bytes() == BODY
    assert len(server.requests) == 1, "one download; the other threads should wait and reuse it"
    assert files_under(cache) == [results[0]]


def test_three_processes_fetching_one_url_share_one_download(server, cache):
    url = server.script("/body.bin", slow_once(0.5))
    env = {**os.environ, "GPT2_LIB_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "gpt2_lib.download", "fetch", url], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    assert {Path(out.strip()) for out, _ in outputs} == {cache_path(url, cache)}
    assert len(server.requests) == 1, "one download; the other processes should wait and reuse it"


def with_headers(body: bytes, **headers: str):
    """Serve `body` with extra response headers (X_Linked_Etag -> X-Linked-Etag)."""
    def step(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return step


def redirect(location: str, **headers: str):
    """A 302 to `location`, with extra headers, as the Hugging Face Hub answers for a file kept in its storage."""
    def step(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return step


def test_unpinned_file_is_checked_against_the_sha256_the_server_states(server, cache):
    wrong = BODY[::-1]
    url = server.script("/body.bin", with_headers(wrong, X_Linked_Etag=f'"{SHA}"'))
    with pytest.raises(DownloadError, match=f"expected sha256 {SHA}"):
        get(url, cache, sha256=None, size=None)
    assert files_under(cache) == [], "a file that failed the stated sha256 must not be kept"
    server.script("/body.bin", with_headers(BODY, X_Linked_Etag=f'"{SHA}"'))
    assert get(url, cache, sha256=None, size=None).read_bytes() == BODY


def test_sha256_and_size_stated_on_a_redirect_are_checked(server, cache):
    storage = server.script("/storage/blob", serve(BODY[:-10]))
    url = server.script("/resolve/main/body.bin", redirect(storage, X_Linked_Etag=f'"{SHA}"',
                                                           X_Linked_Size=str(len(BODY))))
    with pytest.raises(DownloadError, match=f"expected {len(BODY)} bytes, got {len(BODY) - 10}"):
        get(url, cache, sha256=None, size=None)
    assert files_under(cache) == []


def test_content_check_rejects_a_bad_download_and_replaces_a_bad_cached_file(server, cache):
    def is_json(path: Path) -> str | None:
        return None if path.read_bytes().startswith(b"{") else "not JSON"

    url = server.script("/config.json", serve(b"<html>oops</html>"))
    with pytest.raises(DownloadError, match="failed verification: not JSON"):
        get(url, cache, sha256=None, size=None, check=is_json)
    assert files_under(cache) == []
    dest = cache_path(url, cache)
    dest.write_bytes(b"<html>cached by an older version</html>")
    server.script("/config.json", serve(b"{}"))
    with pytest.warns(UserWarning, match=f"{re.escape(str(dest))} is not the file expected.*not JSON"):
        assert get(url, cache, sha256=None, size=None, check=is_json).read_bytes() == b"{}"


def test_a_pinned_file_missing_from_the_cache_comes_from_gpt2_lib_mirror(tmp_path, cache, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "any" / "where").mkdir(parents=True)
    (mirror / "any" / "where" / "renamed.dat").write_bytes(BODY)
    (mirror / "same-size.dat").write_bytes(BODY[::-1])  # the right size, the wrong content
    monkeypatch.setenv("GPT2_LIB_MIRROR", str(mirror))
    url = "https://example.invalid/x/body.bin"  # would not resolve: the mirror must serve it
    assert get(url, cache, retries=0).read_bytes() == BODY
    monkeypatch.delenv("GPT2_LIB_MIRROR")
    with pytest.raises(download.Unreachable, match="GPT2_LIB_MIRROR"):
        get("https://example.invalid/y/other.bin", cache, retries=0)
