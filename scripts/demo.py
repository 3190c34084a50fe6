#!/usr/bin/env python3
"""Set up once, then run ``headway demo``: the simulator and a gateway on embedded defaults."""

from __future__ import annotations

import os
import sys

from _bootstrap import ROOT, ensure_venv

if __name__ == "__main__":
    bin_dir = ensure_venv(extras="")
    os.chdir(ROOT)
    os.execv(str(bin_dir / "headway"), [str(bin_dir / "headway"), "demo", *sys.argv[1:]])
