"""`python -m services.cli`."""

import sys

from services.cli.app import app

sys.exit(app())
