"""A minimal Matroska stream of raw RGB24 frames, each with its own timestamp.

Raw video piped to ffmpeg (`-f rawvideo`) has no timestamps: ffmpeg would invent a
constant rate and variable-frame-rate sources would lose their timing. Wrapping each
frame in a one-block Matroska cluster carries its pts (1 microsecond ticks) through the
pipe; ffmpeg's matroska demuxer reads `V_UNCOMPRESSED` with colour space `RGB\\x18` as
rgb24. Only the handful of EBML elements ffmpeg needs are written.
"""

from __future__ import annotations

import numpy as np

TICKS_PER_SECOND = 1_000_000  # TimestampScale of 1000 ns


def _vint(n: int) -> bytes:
    """EBML variable-size integer for an element's payload size."""
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:  # all-ones is reserved for "unknown"
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(f"EBML size too large: {n}")


def _el(element_id: bytes, payload: bytes) -> bytes:
    return element_id + _vint(len(payload)) + payload


def _uint(element_id: bytes, value: int) -> bytes:
    return _el(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def stream_header(width: int, height: int) -> bytes:
    """EBML header, a Segment of unknown size (a stream), Info and one video track."""
    ebml = _el(
        b"\x1a\x45\xdf\xa3",
        _uint(b"\x42\x86", 1)  # EBMLVersion
        + _uint(b"\x42\xf7", 1)  # EBMLReadVersion
        + _uint(b"\x42\xf2", 4)  # EBMLMaxIDLength
        + _uint(b"\x42\xf3", 8)  # EBMLMaxSizeLength
        + _el(b"\x42\x82", b"matroska")  # DocType
        + _uint(b"\x42\x87", 4)  # DocTypeVersion
        + _uint(b"\x42\x85", 2),  # DocTypeReadVersion
    )
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff"
    info = _el(b"\x15\x49\xa9\x66", _uint(b"\x2a\xd7\xb1", 1_000_000_000 // TICKS_PER_SECOND))
    video = _el(
        b"\xe0",
        _uint(b"\xb0", width)  # PixelWidth
        + _uint(b"\xba", height)  # PixelHeight
        + _el(b"\x2e\xb5\x24", b"RGB\x18"),  # ColourSpace fourcc: rgb24
    )
    track = _el(
        b"\xae",
        _uint(b"\xd7", 1)  # TrackNumber
        + _uint(b"\x73\xc5", 1)  # TrackUID
        + _uint(b"\x83", 1)  # TrackType: video
        + _el(b"\x86", b"V_UNCOMPRESSED")
        + video,
    )
    return ebml + segment + info + _el(b"\x16\x54\xae\x6b", track)


DURATION_BYTES = 8


def frame_cluster_header(ticks: int, nbytes: int) -> bytes:
    """Bytes that precede `nbytes` of frame data: a Cluster at `ticks` holding one
    BlockGroup with the frame's Block (track 1, relative time 0). The group ends with a
    BlockDuration that `frame_duration` writes once the next frame's time is known, so
    the frame data is streamed now and no frame is held back. (The last frame's duration
    would otherwise be unknown, and an mp4 edit list would hide that frame.)"""
    block_head = b"\x81\x00\x00\x00"  # track 1, int16 time 0, no flags
    block_size = len(block_head) + nbytes
    block = b"\xa1" + _vint(block_size)
    duration_size = 2 + DURATION_BYTES
    group_size = len(block) + block_size + duration_size
    group = b"\xa0" + _vint(group_size)
    timestamp = _uint(b"\xe7", ticks)
    cluster_size = len(timestamp) + len(group) + group_size
    return b"\x1f\x43\xb6\x75" + _vint(cluster_size) + timestamp + group + block + block_head


def frame_duration(ticks: int) -> bytes:
    """The BlockDuration that closes the BlockGroup opened by `frame_cluster_header`
    (fixed 8-byte payload, so the group's size was known in advance)."""
    return b"\x9b" + _vint(DURATION_BYTES) + max(1, ticks).to_bytes(DURATION_BYTES, "big")


def ticks_after(pts: float, first_pts: float, last_ticks: int) -> int:
    """A frame's time in ticks since the first frame: strictly after the last one (two
    frames with one timestamp would otherwise collide), never dropped."""
    return max(round((pts - first_pts) * TICKS_PER_SECOND), last_ticks + 1)


def frame_block(ticks: int, image: np.ndarray) -> tuple[bytes, memoryview]:
    """The cluster header and the raw RGB bytes of one frame, to write in that order."""
    data = np.ascontiguousarray(image)
    return frame_cluster_header(ticks, data.nbytes), memoryview(data).cast("B")
