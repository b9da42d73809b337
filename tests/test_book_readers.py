"""The book as readers meet it: Colab links and setup, summaries that link the source, exercises with hidden
solutions, the references, the results page, and the GitHub workflows that test and publish it.

Every check runs over all of notebooks/*.ipynb, so a new chapter is held to the same rules the day it appears.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import NOTEBOOKS, ROOT

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
REPO = REPO_URL.removeprefix("https://github.com/")
BRANCH = CONFIG["repository"]["branch"]
HIDDEN = {"hide-cell", "hide-input"}  # jupyter-book folds these cells behind a "show" toggle


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell) -> str:
    return "".join(cell["source"])


def _code(path):
    return [c for c in _cells(path) if c["cell_type"] == "code" and _src(c).strip()]


def _exported_modules(path) -> list[str]:
    text = "\n".join(_src(c) for c in _code(path))
    mods = re.findall(r"^#\| default_exp (\w+)", text, re.M) + re.findall(r"^#\| export (\w+)", text, re.M)
    return list(dict.fromkeys(mods))


# ---- Colab -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_opens_this_notebook_on_the_configured_branch(path):
    first = _src(_cells(path)[0])
    url = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/notebooks/{path.name}"
    badges = re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)", first)
    assert badges == [url], f"{path.name}: the first cell's Colab badge must link to {url}, found {badges}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_gpt2_lib_from_the_same_repository_and_branch(path):
    setup = _src(_code(path)[0])
    assert 'if "google.colab" in sys.modules:' in setup, f"{path.name}: install only on Colab (first code cell)"
    installs = [line for line in setup.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs, f"{path.name}: the first code cell must pip-install gpt2_lib on Colab"
    rev = re.search(r'^GPT2_LIB_REV = "([^"]+)"', setup, re.M)
    source = re.search(r'^GPT2_LIB = "([^"]+)"', setup, re.M)  # the repository, named once to keep lines short
    for line in installs:
        line = line.replace("{GPT2_LIB}", source.group(1)) if source else line
        m = re.search(r"git\+(https://github\.com/[^@\s\"]+)@(\{GPT2_LIB_REV\}|[\w./-]+)", line)
        assert m, f"{path.name}: install gpt2_lib from git+{REPO_URL}@<branch>: {line.strip()}"
        assert m.group(1) == REPO_URL, f"{path.name}: installs from {m.group(1)}, the book's repository is {REPO_URL}"
        got = rev.group(1) if m.group(2) == "{GPT2_LIB_REV}" and rev else m.group(2)
        assert got == BRANCH, f"{path.name}: installs gpt2_lib at {got!r}, but the notebook lives on {BRANCH!r}"
        assert not re.search(r"\btorch\b(?!_)", line.replace("gpt2_lib", "")), \
            f"{path.name}: never (re)install torch on Colab, which has its CUDA build: {line.strip()}"


def test_launch_buttons_open_chapters_on_colab():
    launch = CONFIG.get("launch_buttons", {})
    assert launch.get("colab_url") == "https://colab.research.google.com", "launch_buttons.colab_url must be Colab's"
    repo = CONFIG["repository"]
    assert repo.get("url") and repo.get("branch") and "path_to_book" in repo, \
        "the launch button builds its link from repository.url, .branch and .path_to_book"
    assert (ROOT / repo["path_to_book"] / "notebooks").is_dir(), "path_to_book must be the folder holding notebooks/"


# ---- summaries and exercises -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_summary_links_the_source_of_every_exported_module(path):
    summaries = [_src(c) for c in _cells(path) if c["cell_type"] == "markdown" and re.search(r"^## Summary\b", _src(c), re.M)]
    assert summaries, f"{path.name}: every chapter ends with a '## Summary' of what was built"
    modules = _exported_modules(path)
    assert modules, f"{path.name}: exports nothing (#| default_exp / #| export)"
    for module in modules:
        link = f"{REPO_URL}/blob/{BRANCH}/gpt2_lib/{module}.py"
        assert any(link in s for s in summaries), f"{path.name}: the summary must link {link}"
        assert (ROOT / "gpt2_lib" / f"{module}.py").exists(), f"gpt2_lib/{module}.py does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_worked_solution_folded_away(path):
    cells = _cells(path)
    at = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and re.search(r"^## Exercises\b", _src(c), re.M)]
    assert at, f"{path.name}: every chapter ends with '## Exercises'"
    exercises = re.findall(r"^(\d+)\. ", _src(cells[at[-1]]).split("## Exercises", 1)[1], re.M)
    assert len(exercises) >= 3, f"{path.name}: expected at least 3 numbered exercises, found {exercises}"
    solutions = {}
    for c in cells[at[-1] + 1 :]:
        m = re.search(r"^# Solution to exercise (\d+)\b", _src(c), re.M) if c["cell_type"] == "code" else None
        if m:
            solutions[m.group(1)] = set(c.get("metadata", {}).get("tags", []))
    missing = [n for n in exercises if n not in solutions]
    assert not missing, f"{path.name}: no code cell '# Solution to exercise N' after the exercises for {missing}"
    visible = [n for n, tags in solutions.items() if not tags & HIDDEN]
    assert not visible, f"{path.name}: solutions {visible} are not folded away: tag them {sorted(HIDDEN)}"


# ---- references, front matter, results ------------------------------------------------------------------------

REQUIRED_REFERENCES = ["vaswani2017attention", "radford2019language", "brown2020language", "hendrycks2016gelu",
                       "ba2016layer", "hu2021lora", "dao2022flashattention", "kaplan2020scaling"]


def test_the_key_papers_are_in_the_bibliography_and_cited():
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", bib, re.M)
    assert len(keys) == len(set(keys)), f"duplicate keys in references.bib: {sorted(k for k in keys if keys.count(k) > 1)}"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in [*(ROOT / "book").glob("*.md"), *NOTEBOOKS])
    cited = set(re.findall(r"\{cite:[tp]\}`([^`]+)`", sources))
    cited = {k.strip() for group in cited for k in group.split(",")}
    for key in REQUIRED_REFERENCES:
        assert key in keys, f"{key} is missing from book/references.bib"
        assert key in cited, f"{key} is in references.bib but no page cites it"


def test_front_matter_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for page in ("preface", "setup", "glossary", "bibliography"):
        assert f"book/{page}" in toc, f"book/{page}.md is missing from _toc.yml"
    assert "_static/architecture.svg" in (ROOT / "book" / "preface.md").read_text(), "the preface shows the map"
    assert (ROOT / "book" / "_static" / "architecture.svg").stat().st_size > 10_000, \
        "book/_static/architecture.svg: run python tools/draw_architecture.py"


def test_results_page_is_generated_from_saved_outputs_and_benchmarks():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import results_at_a_glance as results
    finally:
        sys.path.pop(0)
    parts = results.headlines(NOTEBOOKS)
    assert parts, "no chapter cell is tagged 'headline': the intro's results would be empty"
    files = sorted((ROOT / "gpt2_lib" / "results").glob("*.jsonl"))
    assert files, "gpt2_lib/results/ holds no results file"
    for path in files:
        for table in results.tables(path):
            header = table.splitlines()[2]
            assert header.startswith("| ") and table.count("\n") >= 4, f"{path.name}: no table rows"
    intro = (ROOT / "book" / "intro.md").read_text()
    for part in ("headlines", "benchmarks"):
        assert f"{{results-at-a-glance}} {part}" in intro, f"the intro no longer shows the {part}"


def test_results_at_a_glance_shows_each_measurement_once_with_its_newest_value(tmp_path):
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import results_at_a_glance as results
    finally:
        sys.path.pop(0)
    rows = [{"machine": "m", "impl": "a", "tokens_per_s": 1.0}, {"machine": "m", "impl": "b", "tokens_per_s": 2.0},
            {"machine": "m", "ratio": 2.0}, {"machine": "m", "impl": "a", "tokens_per_s": 3.0},
            {"machine": "m", "ratio": 1.5}]
    path = tmp_path / "speed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (table,) = results.tables(path)
    body = [line for line in table.splitlines() if line.startswith("| ") and "impl" not in line]
    assert body == ["| a | 3 |", "| b | 2 |"], f"each measurement once, newest value, first place:\n{table}"
    assert table.count("×**") == 1 and "1.50×" in table, f"only the newest ratio:\n{table}"


# ---- GitHub Actions --------------------------------------------------------------------------------------------

def _readme_command(script: str) -> str:
    m = re.search(rf"^(bash tools/{script}\.sh)\b", (ROOT / "README.md").read_text(), re.M)
    assert m, f"README.md no longer shows `bash tools/{script}.sh`"
    return m.group(1)


def _workflow(name: str) -> dict:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    return wf


def _steps(wf: dict) -> list[dict]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def test_tests_workflow_runs_the_readme_test_command_on_ubuntu():
    wf = _workflow("tests.yml")
    assert wf["on"], "tests.yml must say when it runs"
    job = next(iter(wf["jobs"].values()))
    assert job["runs-on"] == "ubuntu-latest"
    runs = "\n".join(s.get("run", "") for s in _steps(wf))
    assert _readme_command("test") in runs, "tests.yml must run the README's test command"
    py = [s for s in _steps(wf) if s.get("uses", "").startswith("actions/setup-python@")]
    assert py and str(py[0]["with"]["python-version"]) == "3.11"


def test_book_workflow_builds_with_real_weights_caches_and_deploys_to_pages():
    wf = _workflow("book.yml")
    steps = _steps(wf)
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert _readme_command("build_book") in runs, "book.yml must build with the README's build command"
    env = {**wf.get("env", {}), **{k: v for job in wf["jobs"].values() for k, v in job.get("env", {}).items()},
           **{k: v for s in steps for k, v in s.get("env", {}).items()}}
    assert str(env.get("GPT2_LIB_SYNTHETIC_WEIGHTS")) == "0", "the published book must use OpenAI's real weights"
    cached = "\n".join(str(s.get("with", {}).get("path", "")) for s in steps if s.get("uses", "").startswith("actions/cache@"))
    for folder in ("_build/.jupyter_cache", "_build/cache"):
        assert folder in cached, f"book.yml must cache {folder}"
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    perms = {**wf.get("permissions", {}), **{k: v for job in wf["jobs"].values() for k, v in job.get("permissions", {}).items()}}
    assert perms.get("pages") == "write" and perms.get("id-token") == "write", perms
    deploy = [job for job in wf["jobs"].values() if any(s.get("uses", "").startswith("actions/deploy-pages@") for s in job["steps"])]
    environment = deploy[0].get("environment")
    assert (environment.get("name") if isinstance(environment, dict) else environment) == "github-pages"


def test_browser_check_script_is_wired_into_the_test_command():
    assert "tools/check_book_browser.py" in (ROOT / "tools" / "test.sh").read_text()
    assert re.search(r"^playwright==", (ROOT / "requirements.txt").read_text(), re.M), "pin playwright"
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "check_book_browser.py"), "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
