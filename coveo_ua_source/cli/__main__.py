"""``python -m coveo_ua_source.cli``: the ``coveo-ua`` command."""

import sys

from coveo_ua_source.cli.main import main

sys.exit(main())
