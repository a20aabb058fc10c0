"""The test suites. Imported before any conftest, so set up here what must precede the
project's imports."""

import os
import sys
import tempfile

# With PYTHONDONTWRITEBYTECODE set, every process of a run (each xdist worker, and each of the
# hundreds of `python server.py` the tests start) compiled every module again: ~0.3 s of CPU a
# server, ~5 s a worker. Cache the bytecode outside the tree instead (PYTHONPYCACHEPREFIX, which
# the servers inherit), so the tree stays as clean as that setting keeps it.
if sys.dont_write_bytecode:
    if sys.pycache_prefix is None:
        sys.pycache_prefix = os.path.join(tempfile.gettempdir(), f"wf-pycache-{os.getuid()}")
    os.environ["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
