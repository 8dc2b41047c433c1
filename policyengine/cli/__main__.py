"""``python -m policyengine.cli``."""

import sys

from . import main

sys.exit(main())
