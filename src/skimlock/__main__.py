"""``python -m skimlock``."""

from skimlock.cli import entry

entry()
