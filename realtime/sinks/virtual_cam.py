"""Optional virtual camera output (pyvirtualcam): the stylized stream as a webcam that
video-call and streaming apps can pick.

Not installed by default: `pip install 'stylize-video[virtualcam]'`. It needs a
virtual camera device: on Linux the v4l2loopback kernel module
(`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=stylize-video`),
on Windows and macOS OBS Studio's virtual camera (installed and started once).
Untested on CI (no device there); the import is guarded so nothing else needs it.
"""

from __future__ import annotations

from models.errors import UserError
from realtime.frame import Frame
from realtime.sinks.base import Sink

INSTALL_HINT = (
    "pip install 'stylize-video[virtualcam]' (and on Linux: sudo modprobe v4l2loopback "
    "exclusive_caps=1; on Windows/macOS: install OBS Studio and start its virtual camera once)"
)


def require_pyvirtualcam():
    """The pyvirtualcam module, or UserError saying how to install it."""
    try:
        import pyvirtualcam
    except ImportError:
        raise UserError(f"--virtual-cam needs the pyvirtualcam package; {INSTALL_HINT}") from None
    return pyvirtualcam


class VirtualCamSink(Sink):
    """Sink sending RGB frames to a virtual camera, opened at the first frame's size."""

    def __init__(self, fps: float = 30.0, device: str | None = None) -> None:
        super().__init__()
        self._pvc = require_pyvirtualcam()
        self.fps = fps
        self.device = device
        self._cam = None

    @property
    def name(self) -> str:
        device = self._cam.device if self._cam is not None else None  # once it is open
        return device or self.device or "virtual camera"

    def write(self, frame: Frame) -> None:
        image = frame.image
        if self.check_frame(frame):
            h, w = image.shape[:2]
            try:
                self._cam = self._pvc.Camera(
                    width=w,
                    height=h,
                    fps=self.fps,
                    fmt=self._pvc.PixelFormat.RGB,
                    device=self.device,
                )
            except (RuntimeError, ValueError, OSError) as e:
                raise UserError(
                    f"--virtual-cam: cannot open a virtual camera ({e}); {INSTALL_HINT}"
                ) from None
        self._cam.send(image)
        self.frames += 1

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.close()
