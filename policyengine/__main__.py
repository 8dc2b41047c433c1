"""``python -m policyengine``: the ``policyengine`` command (same arguments, output, exit codes and usage text)."""

import sys

from .cli import main

sys.exit(main())
