"""Entry point: ``python -m fusionbench``."""
import sys

from fusionbench.cli import main

sys.exit(main())
