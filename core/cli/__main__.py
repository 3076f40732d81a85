"""`python -m tierscope.cli ...` runs the `tierscope` command."""

import sys

from tierscope.cli import main

sys.exit(main())
