"""`python -m anomstream` runs the same command as the `anomstream` script."""

import sys

from anomstream.cli import main

sys.exit(main())
