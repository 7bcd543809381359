"""atheris: the decoder and the engine's accounting on hostile frames of every link type (see harness.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.harness import run

if __name__ == "__main__":
    run("decode_target")
