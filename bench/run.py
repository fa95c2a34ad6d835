"""``python bench/run.py``: the same as ``python -m bench`` from the repository root."""

import sys
from pathlib import Path


def _main() -> int:
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
