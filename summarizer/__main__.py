"""``python -m summarizer`` runs the command line tool."""

import sys

from summarizer.cli.main import main

sys.exit(main())
