"""`python -m slotviewer …` (and `torchrun -m slotviewer train …`) run the command line."""

import sys

from slotviewer.cli import main

sys.exit(main())
