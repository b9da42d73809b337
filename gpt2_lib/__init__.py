"""GPT-2 From Scratch: the code the book's chapters build, exported from its notebooks."""

__version__ = "0.1.0"
