"""sockscope: a terminal traffic monitor (the `tui` package)."""

__version__ = "0.1.0"
