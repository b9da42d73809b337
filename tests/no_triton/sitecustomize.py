"""Make Triton look uninstalled, as on macOS and Windows (no Triton wheel exists there).

Put this folder first on PYTHONPATH: Python imports `sitecustomize` at start-up, in every process, Jupyter kernels
included. `import triton` then raises ModuleNotFoundError and `importlib.util.find_spec("triton")` returns None,
exactly as where Triton is missing, so the code paths that check for Triton either way are the ones a reader gets.
"""

import importlib.machinery
import sys


class _PathFinderWithoutTriton(importlib.machinery.PathFinder):
    """The standard finder of modules on sys.path, blind to `triton` and its submodules."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname == "triton" or fullname.startswith("triton."):
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[:] = [_PathFinderWithoutTriton if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
