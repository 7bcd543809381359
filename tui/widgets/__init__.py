"""Monitor panels: one widget per file, each with ``update(snapshot)``."""
