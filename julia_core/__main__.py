import sys

from julia_core.cli import main

sys.exit(main())
