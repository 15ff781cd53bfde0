"""TensorFlow, imported once with its native start-up chatter silenced.

On a machine without CUDA, TensorFlow's C++ side prints absl pre-initialisation warnings
("All log messages before absl::InitializeLog() ..."), oneDNN notices and CUDA probe
failures (`E0000 ... failed call to cuInit`) straight to file descriptor 2 while importing
and while first listing devices. TF_CPP_MIN_LOG_LEVEL does not reach them: absl writes
them before TensorFlow's own log level is read. So the first import and device query run
with fd 2 pointed elsewhere.

That must hold whoever imports TensorFlow first: our modules, but also keras, tf_keras
or tensorflow_hub. `quiet_tensorflow()` installs an import hook that wraps the first
`import tensorflow` from anywhere; `import_tensorflow()` uses the same path. Set
STYLIZE_VIDEO_DEBUG=1 (the CLI's `--verbose`) to see everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType
from typing import Any

DEBUG_ENV = "STYLIZE_VIDEO_DEBUG"


def verbose() -> bool:
    return bool(os.environ.get(DEBUG_ENV))


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point fd 2 away while the block runs. If the block raises, what was written is
    replayed so a broken install still explains itself."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        try:
            os.dup2(capture.fileno(), 2)
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            os.write(2, capture.read()[-20000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """Runs the real tensorflow loader with fd 2 silenced, then lists devices (CUDA
    probing prints there, once)."""

    def __init__(self, inner: importlib.abc.Loader):
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with native_stderr_silenced():
            self._inner.exec_module(module)
            module.config.list_physical_devices("GPU")

    def __getattr__(self, name: str) -> Any:  # resource readers, get_filename, ...
        return getattr(self._inner, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        _remove_finder()  # one import only; also keeps find_spec below from recursing
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietFinder)]


def quiet_tensorflow(verbose_logs: bool = False) -> None:
    """Make TensorFlow quiet for the rest of the process unless `verbose_logs`: its C++
    log level, the Python loggers it and absl use, and the native lines printed while it
    is first imported (by whichever module does it). Call before anything imports it."""
    if verbose_logs:
        os.environ[DEBUG_ENV] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl", "h5py", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietFinder) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietFinder())


def quiet_opencv(verbose_logs: bool = False) -> None:
    """Keep OpenCV's own [ WARN ]/[ERROR] lines (a dozen for a missing camera, before the
    tool's one-line error) off stderr unless `verbose_logs`. OpenCV reads the variable
    once, at import; a cv2 already imported is set directly."""
    if verbose_logs:
        return
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and os.environ["OPENCV_LOG_LEVEL"] == "SILENT":
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def import_tensorflow() -> ModuleType:
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not verbose():
        sys.meta_path.insert(0, _QuietFinder())
    try:
        import tensorflow as tf
    finally:
        _remove_finder()
    return tf
