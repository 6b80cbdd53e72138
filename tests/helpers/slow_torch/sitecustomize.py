"""Put on PYTHONPATH of a served app: the first `import torch` sleeps $GANLAB_SLOW_TORCH_S seconds.

It makes "the frame paints before the engine loads" observable in a real browser on any machine
(tests/test_first_paint.py), instead of racing a timer against a fast or slow import.
"""

import os
import sys
import time


class _SlowTorch:
    done = False

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not self.done:
            self.done = True
            time.sleep(float(os.environ.get("GANLAB_SLOW_TORCH_S", "0")))
        return None  # the normal finders import it


sys.meta_path.insert(0, _SlowTorch())
