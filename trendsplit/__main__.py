import sys

from trendsplit.cli import main

sys.exit(main())
