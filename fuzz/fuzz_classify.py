"""atheris: every payload signature of the classifier on hostile payloads (see harness.py, targets.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.harness import run

if __name__ == "__main__":
    run("classify_target")
