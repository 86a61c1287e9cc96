"""Run the golden probe: ``python3 -m golden_probe`` or ``python3 path/to/golden_probe``.

Run as a folder (how the image's startup probe runs it), Python puts the folder itself
first on ``sys.path`` and runs this file outside its package; it is then imported as the
package it is, from the folder above, so its relative imports hold.
"""

import importlib
import sys
from pathlib import Path

if __package__:
    from .command import main
else:
    _folder = Path(__file__).resolve().parent
    sys.path[0] = str(_folder.parent)
    main = importlib.import_module(f"{_folder.name}.command").main

if __name__ == "__main__":
    sys.exit(main())
