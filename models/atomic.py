"""Nothing half-written: outputs are written to a temporary file beside the target and
renamed onto it only when complete.

Temporary files are named `.STEM.svPID-XXXXXXXX.part.SUFFIX` (PID: the writing process).
A run killed outright (SIGKILL, power loss) cannot remove its own, so every run that
makes one first removes the stale ones in that folder: the tool's own name pattern, a
writer process that is gone, and last modified before this process started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from models.errors import UserError

log = logging.getLogger(__name__)

# Files older than this are not being written by anything started after us.
_STARTED = time.time()
_PART = re.compile(r"^\..+\.sv(\d+)-[a-z0-9_]{8}\.part(\.[^.]*)?$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: a check only, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    with contextlib.suppress(OSError):  # a zombie is gone for our purposes
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _remove_stale(
    folder: str | os.PathLike, pattern: re.Pattern, dirs: bool, what: str
) -> list[Path]:
    """Remove the files (or folders, `dirs`) in `folder` whose name matches `pattern` (its
    group 1 is the pid of the run that made them) when that run is gone and they were last
    changed before this process started; return what was removed."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return []
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            kind_ok = (
                entry.is_dir(follow_symlinks=False)
                if dirs
                else entry.is_file(follow_symlinks=False)
            )
            if not kind_ok or entry.stat().st_mtime >= _STARTED:
                continue
            if dirs:
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            continue  # gone already, or not ours to remove
        log.info("removed %s, left by %s", entry.path, what)
        removed.append(Path(entry.path))
    return removed


def remove_stale_parts(folder: str | os.PathLike) -> list[Path]:
    """Remove this tool's partial files in `folder` left by runs that no longer exist;
    return what was removed. Files of a live process, or newer than this process, stay."""
    return _remove_stale(folder, _PART, dirs=False, what="an interrupted run")


def private_temp_dir(prefix: str, dir: str | os.PathLike | None = None) -> Path:
    """A new folder `PREFIX<pid>-XXXXXXXX` in the system temp folder (or `dir`), after
    removing the ones of that prefix left by processes that are gone (a killed worker or
    server cannot remove its own). The caller removes it when done."""
    base = Path(dir or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_dirs(base, prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base))


def remove_stale_dirs(folder: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove folders `PREFIX<pid>-...` in `folder` whose process is gone and that were
    last changed before this process started; return what was removed."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    return _remove_stale(folder, pattern, dirs=True, what="a stopped run")


def part_file(dest: str | os.PathLike, suffix: str | None = None) -> Path:
    """Create an empty temporary file beside `dest` (ending in `suffix`, default `dest`'s
    own) with the usual permissions, after removing stale ones there. The caller removes
    or renames it. Raises OSError when the folder cannot be written."""
    dest = Path(dest)
    folder = dest.parent
    remove_stale_parts(folder)
    fd, name = tempfile.mkstemp(
        prefix=f".{dest.stem}.sv{os.getpid()}-",
        suffix=f".part{dest.suffix if suffix is None else suffix}",
        dir=folder,
    )
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; the output is an ordinary file
    return Path(name)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in `dest`'s folder (same suffix); when the block ends without
    an exception it is renamed onto `dest`, otherwise it is removed. Raises OSError when
    the folder cannot be written."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_file(dest)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both paths name one file (an output must never overwrite its input)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def outputs_in_folder(inputs: Sequence[Path], folder: Path, suffix: str) -> list[Path]:
    """One output per input in `folder`, named after it with `suffix` (``name_ext.suffix``
    when two inputs share a name). An output that would be its own input is refused."""
    stems = [p.stem for p in inputs]
    targets = [
        folder
        / (f"{p.stem}{suffix}" if stems.count(p.stem) == 1 else f"{p.stem}_{p.suffix[1:]}{suffix}")
        for p in inputs
    ]
    for src, dst in zip(inputs, targets, strict=True):
        if dst.resolve() == src.resolve():
            raise UserError(f"-o {dst} would overwrite the input {src}; choose another output")
    return targets


class KeyedWorkFolder:
    """A folder of one job's finished pieces beside its output, with a manifest naming the
    job's key (a hash of input and settings): opened again with the same key it resumes,
    with another it starts fresh; a folder that is not one is refused. Subclasses name
    their pieces (`what`) and count them (`count_done`)."""

    what = "pieces"
    format = 1  # bump in a subclass when pieces made by older code must not be reused

    def __init__(
        self, path: Path, key: str, *, resume: bool = True, log: Callable[[str], None] = print
    ) -> None:
        self.path = path
        self.key = key
        manifest = path / "manifest.json"
        if path.exists():
            old = None
            with contextlib.suppress(OSError, ValueError, AttributeError):
                old = json.loads(manifest.read_text()).get("key")
            if not path.is_dir() or (old is None and any(path.iterdir())):
                raise UserError(
                    f"{path}: exists and is not a stylize-video work folder; move it away"
                )
            if old != key:
                log(f"work folder {path}: made for another input or settings; starting fresh")
                shutil.rmtree(path)
            elif not resume:
                log(f"work folder {path}: {self.count_done()} {self.what} dropped (no resume)")
                shutil.rmtree(path)
            else:
                log(f"work folder {path}: resuming ({self.count_done()} {self.what} done)")
        path.mkdir(parents=True, exist_ok=True)
        tmp = manifest.with_name(".manifest.tmp")
        tmp.write_text(json.dumps({"key": key, "format": self.format}))
        os.replace(tmp, manifest)

    def count_done(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
