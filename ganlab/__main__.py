"""`python -m ganlab ...`"""

import sys

from .cli import main

sys.exit(main())
