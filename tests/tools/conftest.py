"""tools/ scripts import their siblings from the script's folder (`python tools/X.py` puts it on sys.path);
their tests import them the same way."""

import sys

from tests.helpers.config import ROOT

sys.path.insert(0, str(ROOT / "tools"))
