"""``python -m skimlock``."""

import sys

from skimlock.cli import main

sys.exit(main())
