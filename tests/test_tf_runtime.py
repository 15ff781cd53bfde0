"""TensorFlow's native start-up chatter is silenced, and only while importing."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

SNIPPET = """
import os
from models.tf_runtime import native_stderr_silenced
with native_stderr_silenced():
    os.write(2, b"native noise\\n")
os.write(2, b"after\\n")
"""


def _stderr(debug: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "STYLIZE_VIDEO_DEBUG"}
    if debug:
        env["STYLIZE_VIDEO_DEBUG"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=ROOT, env=env, capture_output=True, text=True
    )
    return out.stderr


def test_native_stderr_is_silenced_then_restored():
    assert _stderr(debug=False) == "after\n"


def test_debug_env_shows_everything():
    assert _stderr(debug=True) == "native noise\nafter\n"


def test_silenced_output_is_replayed_when_the_block_fails():
    # a broken TensorFlow install must still explain itself
    code = (
        "import os\nfrom models.tf_runtime import native_stderr_silenced\n"
        "with native_stderr_silenced():\n"
        "    os.write(2, b'why it broke\\n')\n"
        "    raise SystemExit(3)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "STYLIZE_VIDEO_DEBUG"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True)
    assert out.returncode == 3
    assert out.stderr == b"why it broke\n"
