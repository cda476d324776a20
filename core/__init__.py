"""Shared base of kbqa: settings, the small data types and the errors every stage uses.

This package imports no other kbqa package, so every stage may import it.

Every kbqa process imports it before anything that loads a model, so this is where kbqa goes
offline, once: its models come from installed packages, never from a model hub. Hugging Face's
libraries read ``HF_HUB_OFFLINE`` when they are imported, and the processes kbqa starts (the
parser, the chat servers) inherit it. A value set beforehand (``HF_HUB_OFFLINE=0``) is kept.
It is also where every kbqa process limits its malloc arenas (:mod:`core.memory`), and where
it turns off OpenVINO's telemetry: importing ``openvino`` sends usage events to Google
Analytics unless a consent file in the home folder says no, and without a network the sender's
DNS lookup held ``kbqa ask`` open at its exit for minutes. With ``openvino_telemetry`` not
importable, OpenVINO uses its own stub that sends nothing.
"""

import os
import sys

from core.memory import limit_malloc_arenas

os.environ.setdefault("HF_HUB_OFFLINE", "1")
limit_malloc_arenas()  # memory flat over a day of questions: core/memory.py
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]  # import fails
