import sys

from julia_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
