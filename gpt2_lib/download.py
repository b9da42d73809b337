"""Fetch the book's public files once, verify them, and serve them from a local cache from then on."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from tqdm import tqdm

CHUNK = 1 << 16  # 64 KiB: large enough to be fast, small enough for a smooth progress bar


class DownloadError(RuntimeError):
    """A download that cannot succeed as asked; the message names the URL, what was expected and what arrived."""


class Unreachable(DownloadError):
    """Nothing usable arrived: the server could not be reached, or kept failing, through every retry."""


class _Transient(Exception):
    """A failure worth another attempt: a dropped connection, a timeout, a short body, a 5xx or a 429."""


@dataclass(frozen=True)
class RemoteFile:
    """A public file pinned by size and sha256, so a changed or damaged upstream copy is caught, not used."""

    url: str
    sha256: str
    size: int


FILES: dict[str, RemoteFile] = {
    "the-verdict.txt": RemoteFile(
        "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt",
        "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f", 20479),
    "tinyshakespeare.txt": RemoteFile(
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1115394),
    "instruction-data.json": RemoteFile(
        "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch07/01_main-chapter-code/"
        "instruction-data.json",
        "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944", 203524),
    "gpt2/encoder.json": RemoteFile(
        "https://openaipublic.blob.core.windows.net/gpt-2/models/124M/encoder.json",
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783", 1042301),
    "gpt2/vocab.bpe": RemoteFile(
        "https://openaipublic.blob.core.windows.net/gpt-2/models/124M/vocab.bpe",
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5", 456318),
    # nanoGPT's model (MIT) at a pinned commit: the third row of `python -m gpt2_lib.bench compare`
    "nanogpt/model.py": RemoteFile(
        "https://raw.githubusercontent.com/karpathy/nanoGPT/3adf61e154c3fe3fca428ad6bc3818b27a3b8291/model.py",
        "7c01703240dbec5d554527dc666e35b3df8391d0b117fddc07afcf325a21d11c", 16345),
}


def cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache root: the argument, else $GPT2_LIB_CACHE, else ~/.cache/gpt2_lib."""
    return Path(cache_dir or os.environ.get("GPT2_LIB_CACHE") or Path.home() / ".cache" / "gpt2_lib").expanduser()


_cache_root = cache_dir  # the functions below take an argument of the same name, which hides this one


def cache_path(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where `url` lives in the cache: <cache>/<host>/<url path>, mirroring the web so a reader can find any file."""
    parts = urllib.parse.urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or not parts.netloc or not segments:
        raise ValueError(f"expected an http(s) URL naming a file, got {url!r}")
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"refusing {url!r}: '.' or '..' in its path could place the file outside the cache")
    host = parts.netloc.replace(":", "_")  # a port's ':' is not allowed in Windows file names
    return _cache_root(cache_dir) / host / Path(*segments)


def _sha256(path: Path) -> str:
    """The file's sha256 as hex, read in chunks so a 500 MB checkpoint does not have to fit in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


Check = Callable[[Path], "str | None"]  # a test of a file's content: None if sound, else what is wrong


def _mismatch(path: Path, sha256: str | None, size: int | None, check: Check | None = None) -> str | None:
    """Why `path` is not the file expected (expected vs actual), or None if it is; size first, as it is free."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"expected {size} bytes, got {actual_size}"
    if sha256 is not None and (actual := _sha256(path)) != sha256.lower():
        return f"expected sha256 {sha256.lower()}, got {actual}"
    return check(path) if check is not None else None


def _lock(dest: Path) -> FileLock:
    """The lock on one cache entry: under torchrun every rank asks for the same file, and only one may write it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(dest.with_name(dest.name + ".lock"))


def _copy_verified(src: Path, dest: Path, sha256: str, size: int) -> None:
    """Copy `src` to `dest` through a part file, keeping it only if it matches (the source may change meanwhile)."""
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, part)
    if (problem := _mismatch(part, sha256, size)) is not None:
        part.unlink()
        raise DownloadError(f"copying {src} to {dest} failed verification: {problem}")
    os.replace(part, dest)


def _from_mirror(dest: Path, sha256: str | None, size: int | None) -> bool:
    """Fill `dest` from the folder named by $GPT2_LIB_MIRROR if it holds a file of this size and sha256."""
    mirror = os.environ.get("GPT2_LIB_MIRROR")
    if not mirror or sha256 is None or size is None or not Path(mirror).is_dir():
        return False  # an unpinned file cannot be recognised in a mirror
    for root, dirs, names in os.walk(mirror):
        dirs.sort()
        for src in sorted(Path(root, n) for n in names):
            if src.stat().st_size == size and _sha256(src) == sha256.lower():  # hash only files of the right size
                _copy_verified(src, dest, sha256, size)
                return True
    return False


class _RecordRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, keeping the X-Linked-* headers of each hop: the Hugging Face Hub sends the
    file's sha256 (X-Linked-Etag) and size (X-Linked-Size) on the redirect to its storage, not on the file."""

    def __init__(self) -> None:
        self.linked: dict[str, str] = {}

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.linked |= {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-linked-")}
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _claims(headers: dict[str, str]) -> tuple[str | None, int | None]:
    """The sha256 and size that a server's X-Linked-Etag and X-Linked-Size headers state, where they do."""
    etag = headers.get("x-linked-etag", "").removeprefix("W/").strip('"').lower()
    size = headers.get("x-linked-size", "")
    return (etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None), (int(size) if size.isdigit() else None)


def _download(url: str, part: Path, name: str, timeout: float, progress: bool) -> tuple[str | None, int | None]:
    """One HTTP request that leaves the whole body in `part`, resuming from the bytes already there; the sha256 and
    size the server states for the file, if it does (see _claims)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    redirects = _RecordRedirects()
    try:
        with urllib.request.build_opener(redirects).open(request, timeout=timeout) as resp:
            linked = redirects.linked | {k.lower(): v for k, v in resp.headers.items()
                                         if k.lower().startswith("x-linked-")}
            if resp.status == 206:
                m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m[1]) != have:  # bytes for some other offset would corrupt the file
                    part.unlink()
                    raise _Transient(f"expected a body resuming at byte {have}, got Content-Range "
                                     f"{resp.headers.get('Content-Range')!r}; starting over")
            else:  # 200: the server ignored Range and sends the whole file, so the part file starts over
                have = 0
            length = resp.headers.get("Content-Length")  # of this body: the rest of the file on a 206
            total = have + int(length) if length is not None else None
            bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                       disable=not progress)
            with open(part, "ab" if have else "wb") as f, bar:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
                received = f.tell()
    except urllib.error.HTTPError as e:
        e.close()  # an HTTPError holds the response's open socket
        if e.code == 416 and have:  # the part file is longer than the file is now: it is stale, start over
            part.unlink()
            return _download(url, part, name, timeout, progress)
        if e.code == 429 or e.code >= 500:
            raise _Transient(f"{e.code} {e.reason}") from None
        raise DownloadError(f"{e.code} {e.reason} for URL {url} (expected 200 OK); check the URL") from None
    except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out, or a chunked body cut short
        raise _Transient(f"{type(e).__name__}: {e}") from None
    # http.client returns b"" instead of raising when the connection closes before Content-Length bytes came
    if total is not None and received != total:
        raise _Transient(f"incomplete body: expected {total} bytes, got {received}")
    return _claims(linked)


def fetch(url: str, *, sha256: str | None = None, size: int | None = None, check: Check | None = None,
          cache_dir: str | os.PathLike | None = None, retries: int = 4, backoff: float = 1.0, timeout: float = 30.0,
          progress: bool = True) -> Path:
    """The cached copy of `url`, downloaded (resumably, with retries) and verified first if it is missing or wrong.

    Verified means: the pinned size and sha256 where given, else those the server states (X-Linked-Size and
    X-Linked-Etag, as the Hugging Face Hub sends), and `check(path)` on the content. A file that fails is deleted.
    A pinned file missing from the cache is first looked for in $GPT2_LIB_MIRROR. Threads and processes asking
    for the same file at once take turns: the first downloads it, the others wait and then find it cached.
    """
    dest = cache_path(url, cache_dir)
    with _lock(dest):
        if dest.exists():
            if (problem := _mismatch(dest, sha256, size, check)) is None:
                return dest
            warnings.warn(f"{dest} is not the file expected ({problem}); deleting it and downloading it again",
                          stacklevel=2)
            dest.unlink()
        if _from_mirror(dest, sha256, size):
            return dest
        part = dest.with_name(dest.name + ".part")
        reason, failed_checks = "", 0
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                stated_sha256, stated_size = _download(url, part, dest.name, timeout, progress)
            except _Transient as e:
                reason = str(e)
                continue
            if (problem := _mismatch(part, sha256 or stated_sha256, size or stated_size, check)) is None:
                os.replace(part, dest)  # atomic: the final name only ever holds a whole, verified file
                return dest
            part.unlink()  # bytes that failed a check must not survive, or the next attempt would resume on them
            failed_checks += 1
            # one fresh download is allowed, as a stale part file may be to blame; a second failure: upstream differs
            if failed_checks == 2 or attempt == retries:
                raise DownloadError(f"{url} failed verification: {problem}; the file upstream may have changed")
            reason = problem
    offline = (f"put the verified file at {dest}, or set GPT2_LIB_MIRROR to a folder holding a copy (found by size "
               "and sha256, under any name)" if sha256 and size else f"put the file at {dest}")
    raise Unreachable(f"could not download {url} after {retries + 1} attempts; last: {reason}. To work offline, "
                      f"{offline}")


def fetch_file(name: str, **kwargs) -> Path:
    """The cached copy of the book's file `name` from FILES, pinned to its size and sha256."""
    try:
        file = FILES[name]
    except KeyError:
        raise ValueError(f"unknown file {name!r}; known: {', '.join(sorted(FILES))}") from None
    return fetch(file.url, sha256=file.sha256, size=file.size, **kwargs)


def seed_cache(directory: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Copy every file under `directory` that matches a FILES entry by content into the cache; the cache paths filled.

    Matching by size and sha256, not by name, lets any mirror or offline copy fill the cache without network.
    """
    by_size: dict[int, list[RemoteFile]] = {}
    for file in FILES.values():
        by_size.setdefault(file.size, []).append(file)
    seeded: list[Path] = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for src in sorted(Path(root, n) for n in names):
            candidates = by_size.get(src.stat().st_size, [])  # hash only files of a wanted size: mirrors can be large
            digest = _sha256(src) if candidates else None
            for file in candidates:
                dest = cache_path(file.url, cache_dir)
                if file.sha256 != digest or dest in seeded:
                    continue
                with _lock(dest):
                    if not dest.exists() or _mismatch(dest, file.sha256, file.size) is not None:
                        _copy_verified(src, dest, file.sha256, file.size)
                seeded.append(dest)
    return seeded


def main(argv: list[str] | None = None) -> None:
    """Command line: `seed DIR` fills the cache from a local copy; `fetch NAME|URL` prints the cached file's path."""
    parser = argparse.ArgumentParser(prog="python -m gpt2_lib.download", description=__doc__)
    parser.add_argument("--cache-dir", help="cache root (default: $GPT2_LIB_CACHE or ~/.cache/gpt2_lib)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed", help="copy the book's files found under DIR into the cache").add_argument("dir")
    fetch_parser = commands.add_parser("fetch", help=f"download one file: a URL or one of {', '.join(FILES)}")
    fetch_parser.add_argument("target", metavar="NAME|URL")
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            if not Path(args.dir).is_dir():
                raise ValueError(f"{args.dir} is not a directory")
            paths = seed_cache(args.dir, args.cache_dir)
            print(f"seeded {len(paths)} of {len(FILES)} files", file=sys.stderr)
        else:
            get = fetch if "://" in args.target else fetch_file
            paths = [get(args.target, cache_dir=args.cache_dir)]
    except (DownloadError, ValueError, OSError) as e:  # a user's mistake or a network problem: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print("\n".join(map(str, paths)))


if __name__ == "__main__":
    main()
