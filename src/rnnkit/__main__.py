"""``python -m rnnkit`` is the ``rnnkit`` command."""

import sys

from rnnkit.cli.main import main

sys.exit(main())
