"""Open every page of the built book in headless Chromium and fail on what a reader would see broken.

    python tools/check_book_browser.py _build/check/_build/html      # what tools/test.sh runs after the build

For each HTML page (served over http from the build folder) it checks:
- every <img> loaded (naturalWidth > 0), and no request to the book's own server failed or returned an error;
- every link to a page of the book exists, and its #anchor exists on the target page;
- no Python traceback or error output box is shown (myst-nb's error outputs, Sphinx's error messages);
- every chapter whose notebook calls plt.show() shows its figures: at least one image in an output area per
  cell that calls plt.show() at top level;
- every chapter shows at least 2 drawn diagrams (the SVGs of notebooks/figures/, drawn by tools/figures/);
- every chapter page links to Colab at its own notebook (the badge and the launch button);
and saves each chapter page, in screen-high slices, to _build/screenshots/<chapter>-NN.png for a person to look at.

The browser is Debian's `chromium` (Playwright drives it by path; it never downloads its own). Where it is
missing it is installed with apt-get when running as root; otherwise the check fails in CI (CI set) and is
skipped, saying so, elsewhere.
"""

from __future__ import annotations

import argparse
import functools
import html.parser
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}


def find_chromium() -> str | None:
    """The browser to drive: $CHROMIUM, else the first of Debian's / Ubuntu's / Google's names on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


def ensure_chromium() -> str | None:
    """Find Chromium, installing Debian's package when we are root and apt-get exists; None if unobtainable."""
    if path := find_chromium():
        return path
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("== chromium not found: installing it with apt-get (Debian's `chromium` package)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=False, env=env)
        return find_chromium()
    return None


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def chapter_figure_cells(notebook: Path) -> int:
    """Code cells of a notebook that call plt.show() at top level (each draws at least one figure)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code" and re.search(r"^plt\.show\(\)", "".join(c["source"]), re.M))


# Runs in the page: wait for images, then report what a reader would see.
PAGE_REPORT = """
async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const outputs = Array.from(document.querySelectorAll('.cell_output, .output'));
  return {
    broken_images: imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.src),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    error_boxes: Array.from(document.querySelectorAll(
        '.output.traceback, .output.error, div.traceback, .system-message, .problematic'))
        .map(e => e.innerText.slice(0, 300)),
    tracebacks: outputs.filter(e => e.innerText.includes('Traceback (most recent call last)'))
        .map(e => e.innerText.slice(0, 300)),
    output_images: document.querySelectorAll('.cell_output img').length,
    diagrams: Array.from(document.querySelectorAll('article img'))
        .filter(i => !i.closest('.cell_output') && /\/_images\/ch\d\d_[\w-]+\.svg$/.test(i.src)).length,
  };
}
"""


def screenshot_in_slices(page, stem: Path, height: int = 4000) -> None:
    """The whole page as <stem>-01.png, -02.png, ...: a full-page capture of a very tall page (chapters 8 and 9 are
    over 35,000 pixels) comes out blank below the first screen in headless Chromium."""
    for old in stem.parent.glob(f"{stem.name}*.png"):  # an earlier run's slices, which may be more
        old.unlink()
    page.set_viewport_size({"width": 1280, "height": height})
    total = page.evaluate("document.documentElement.scrollHeight")
    for n, y in enumerate(range(0, total, height), 1):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.screenshot(path=str(stem.parent / f"{stem.name}-{n:02d}.png"))
    page.set_viewport_size({"width": 1280, "height": 900})


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the report says what matters
        pass


def check(html_dir: Path, screenshots: Path, repo: str, branch: str) -> list[str]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    chromium = ensure_chromium()
    if chromium is None:
        message = ("Chromium is needed to check the rendered book and was not found (looked for $CHROMIUM, "
                   f"{', '.join(CANDIDATES)}); install Debian's package: `apt-get install -y chromium`")
        if os.environ.get("CI"):
            return [message]
        print(f"SKIPPED the browser check: {message}")
        return []
    pages = sorted(p for p in html_dir.rglob("*.html")
                   if not {"_static", "_sources", "_images"} & set(p.relative_to(html_dir).parts)
                   and p.name not in SKIP_PAGES)
    notebooks = {p.stem: p for p in (ROOT / "notebooks").glob("*.ipynb")}
    screenshots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    server, base = serve(html_dir)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})") if r.url.startswith(base) else None)
            page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})")
                    if r.url.startswith(base) and r.status >= 400 else None)
            # JavaScript errors come from the theme's own scripts (e.g. sphinx-thebe declaring a constant twice), not
            # from the book: reported, not failed on.
            js_errors: set[str] = set()
            page.on("pageerror", lambda e: js_errors.add(str(e)))
            for path in pages:
                rel = path.relative_to(html_dir).as_posix()
                failed.clear()
                refresh = re.search(r'http-equiv="refresh"[^>]*url=([^"]+)"', path.read_text(encoding="utf-8", errors="replace"), re.I)
                if refresh:  # a redirect page (index.html -> the intro): its target must exist; the target is checked itself
                    if not (path.parent / unquote(urldefrag(refresh.group(1))[0])).exists():
                        problems.append(f"{rel}: redirects to {refresh.group(1)}, which does not exist")
                    continue
                page.goto(base + rel, wait_until="load")
                try:
                    report = page.evaluate(PAGE_REPORT)
                except PlaywrightError:  # the page redirected (index.html -> the intro): check where it landed
                    page.wait_for_load_state("load")
                    report = page.evaluate(PAGE_REPORT)
                where = f"{rel}:"
                # the book's own images must load; external ones (the Colab badge) need the internet, which CI lacks
                problems += [f"{where} image did not load: {src[len(base):]}" for src in report["broken_images"]
                             if src.startswith(base)]
                problems += [f"{where} {f}" for f in failed]
                problems += [f"{where} error box: {t!r}" for t in report["error_boxes"]]
                problems += [f"{where} traceback in an output: {t!r}" for t in report["tracebacks"]]
                for href in report["links"]:
                    if not href.startswith(base):
                        continue
                    url, fragment = urldefrag(href)
                    target = html_dir / unquote(urlparse(url).path).lstrip("/")
                    if target.is_dir():
                        target = target / "index.html"
                    if not target.exists():
                        problems.append(f"{where} broken link to {href[len(base):]} (no such file)")
                    elif fragment and target.suffix == ".html" and unquote(fragment) not in anchors(target):
                        problems.append(f"{where} broken link to {href[len(base):]} (no anchor #{fragment})")
                stem = path.stem
                if rel.startswith("notebooks/") and stem in notebooks:
                    need = chapter_figure_cells(notebooks[stem])
                    if report["output_images"] < need:
                        problems.append(f"{where} shows {report['output_images']} figure(s) in outputs, but "
                                        f"{need} cell(s) of {stem}.ipynb call plt.show()")
                    if re.match(r"\d\d_", stem) and report["diagrams"] < 2:  # chapters; appendices hold plumbing
                        problems.append(f"{where} shows {report['diagrams']} drawn diagram(s); every chapter needs "
                                        "at least 2 (tools/figures/)")
                    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{stem}.ipynb"
                    n_colab = sum(1 for h in report["links"] if h == colab)
                    if n_colab < 2:
                        problems.append(f"{where} {n_colab} link(s) to {colab}; expected the badge and the launch button")
                    screenshot_in_slices(page, screenshots / stem)
            browser.close()
        for e in sorted(js_errors):
            print(f"note: JavaScript error from the theme (not failed on): {e}")
    finally:
        server.shutdown()
    return problems


def main() -> int:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html", type=Path, help="the built HTML folder, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    args = parser.parse_args()
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    repo, branch = repository["url"].removeprefix("https://github.com/"), repository.get("branch", "main")
    t0 = time.perf_counter()
    problems = check(args.html, args.screenshots, repo, branch)
    for p in problems:
        print("FAIL", p)
    n_shots = len({p.stem.rsplit("-", 1)[0] for p in args.screenshots.glob("*-[0-9][0-9].png")}) \
        if args.screenshots.exists() else 0
    print(f"browser check: {len(problems)} problem(s); {n_shots} chapter(s) screenshotted in {args.screenshots}; "
          f"{time.perf_counter() - t0:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
