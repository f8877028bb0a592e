import sys

from tapin.cli import main

sys.exit(main())
