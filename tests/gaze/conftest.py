"""LSL in the gaze tests stays on this machine: liblsl reads tests/gaze/lsl_loopback.cfg (set
before any LSL call, and inherited by the simulated trackers run as child processes)."""

import os
from pathlib import Path

os.environ["LSLAPICFG"] = str(Path(__file__).with_name("lsl_loopback.cfg"))
