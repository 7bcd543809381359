"""`python -m tui` runs the same command line as `sockscope`."""

import sys

from tui.cli import main

sys.exit(main())
