"""Entry point for `python -m musicgen`."""

import sys

from musicgen.cli import main

sys.exit(main())
