"""``python -m freqload``: the command line (:mod:`freqload.tools.cli`)."""
import sys

from .tools.cli import main

sys.exit(main())
