"""TensorFlow, imported once with its native start-up chatter silenced.

On a machine without CUDA, TensorFlow's C++ side prints absl pre-initialisation warnings
and CUDA probe failures straight to file descriptor 2 while importing and while listing
devices; TF_CPP_MIN_LOG_LEVEL does not reach them. They are noise to a user, so the first
import and device query run with fd 2 pointed at /dev/null. Set STYLIZE_VIDEO_DEBUG=1 to
see them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    if os.environ.get("STYLIZE_VIDEO_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> ModuleType:
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA probing prints here, once
    return tf
