"""Entry point for `python -m musicgen`."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from musicgen.cli import main  # noqa: E402

sys.exit(main())
