"""The `image` command as a user meets it: results, JSON, grids, and a one-line error with
exit code 2 for each kind of bad input."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, synthetic_photo
from PIL import Image

import stylize_video


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = stylize_video.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code: int, err: str, *must_contain: str) -> None:
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert lines[0].startswith("stylize-video: error: ")
    assert "Traceback" not in err
    for part in must_contain:
        assert part in lines[0]


def _png_declaring(path: Path, w: int, h: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _bad_file(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / {"text": "notes.jpg", "bomb": "bomb.png"}.get(kind, f"{kind}.jpg")
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        Image.fromarray(synthetic_photo(200, 300)).save(p, quality=95)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    elif kind == "text":
        p.write_text("this is not a picture\n")
    elif kind == "tiny":
        Image.new("RGB", (1, 1), "red").save(p)
    elif kind == "bomb":
        _png_declaring(p, 30000, 30000)
    return p


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", ["no such file"]),
        ("empty", ["empty"]),
        ("truncated", ["truncated or corrupt"]),
        ("text", ["not an image"]),
        ("tiny", ["1x1", "at least 16x16"]),
        ("bomb", ["30000x30000", "limit"]),
    ],
)
def test_bad_input_files(capsys, tmp_path, kind, words):
    bad = _bad_file(tmp_path, kind) if kind != "missing" else tmp_path / "nope.jpg"
    code, _, err = run(capsys, "image", str(bad), "-o", str(tmp_path / "o.png"), "-s", "preset:1")
    assert_user_error(code, err, bad.name, *words)
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("preset:26", ["unknown preset", "preset:25"]),
        ("preset:x", ["unknown preset"]),
        ("nosuch.jpg", ["nosuch.jpg", "does not exist"]),
        ("preset:1,,preset:2", ["empty"]),
        ("preset:1:-1", ["must be a number >= 0"]),
        ("preset:1:0,preset:2:0", ["all zero"]),
        ("preset:1:abc", ["not a number"]),
    ],
)
def test_bad_style_specs(capsys, tmp_path, spec, words):
    img = tmp_path / "in.png"
    Image.fromarray(synthetic_photo()).save(img)
    code, _, err = run(capsys, "image", str(img), "-o", str(tmp_path / "o.png"), "--style", spec)
    assert_user_error(code, err, *words)


def test_mixing_presets_and_images_in_a_blend_is_refused(capsys, tmp_path, style_png):
    img = tmp_path / "in.png"
    Image.fromarray(synthetic_photo()).save(img)
    code, _, err = run(
        capsys, "image", str(img), "-o", str(tmp_path / "o.png"), "-s", f"preset:1,{style_png}"
    )
    assert_user_error(code, err, "mixes presets and style images")


def test_unwritable_output(capsys, tmp_path):
    img = tmp_path / "in.png"
    Image.fromarray(synthetic_photo()).save(img)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, err = run(capsys, "image", str(img), "-o", str(blocker / "out.png"), "-s", "preset:2")
    assert_user_error(code, err, "cannot write", "choose another -o")


def test_output_never_overwrites_the_input(capsys, tmp_path):
    img = tmp_path / "in.png"
    Image.fromarray(synthetic_photo()).save(img)
    before = img.read_bytes()
    code, _, err = run(capsys, "image", str(img), "-o", str(img), "-s", "preset:2")
    assert_user_error(code, err, "overwrite the input")
    assert img.read_bytes() == before


def _variant(tmp_path: Path, kind: str) -> Path:
    rgb = synthetic_photo(40, 56)
    if kind == "gray16":
        p = tmp_path / "deep.png"
        Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(p)
    elif kind == "gray":
        p = tmp_path / "gray.jpg"
        Image.fromarray(rgb[:, :, 1]).save(p)
    elif kind == "rgba":
        p = tmp_path / "alpha.png"
        a = np.zeros(rgb.shape[:2], np.uint8)
        a[:, 20:] = 255
        Image.fromarray(np.dstack([rgb, a])).save(p)
    else:
        p = tmp_path / "cmyk.jpg"
        Image.fromarray(rgb).convert("CMYK").save(p)
    return p


@pytest.mark.parametrize("kind", ["gray16", "gray", "rgba", "cmyk"])
def test_unusual_pixel_formats_give_a_correct_result(capsys, tmp_path, kind):
    src = _variant(tmp_path, kind)
    out = tmp_path / f"out_{kind}.png"
    code, _, err = run(capsys, "image", str(src), "-o", str(out), "-s", "preset:4")
    assert code == 0, err
    result = Image.open(out)
    assert result.size == (56, 40)
    if kind == "rgba":
        assert result.mode == "RGBA"  # the alpha channel is carried over
        assert np.array_equal(np.asarray(result)[:, :, 3], np.asarray(Image.open(src))[:, :, 3])
    if kind == "gray16":  # scaled to 8 bits, not clipped to white
        assert np.asarray(result.convert("L")).std() > 5


def test_folder_with_images_and_other_files(capsys, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_photo(32, 48, seed=i)).save(folder / f"p{i}.png")
    (folder / "readme.txt").write_text("not an image")
    (folder / "sub").mkdir()
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys, "image", str(folder), "-o", str(out), "-s", "preset:5", "--json"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert sorted(Path(i["output"]).name for i in summary["images"]) == ["p0.png", "p1.png"]
    assert [Path(s).name for s in summary["skipped"]] == ["readme.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]


@pytest.mark.slow
def test_stylizes_a_real_photo_at_its_own_size(capsys, tmp_path, shared_data):
    photo = shared_data / "content" / "golden_gate.jpg"
    painting = shared_data / "style" / "the_scream.jpg"
    out = tmp_path / "gg.png"
    code, stdout, err = run(
        capsys, "image", str(photo), "-o", str(out), "--style", str(painting), "--grid", "--json"
    )
    assert code == 0, err
    result = np.asarray(Image.open(out))
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert result.shape == original.shape
    assert np.abs(result.astype(int) - original).mean() > 25  # clearly stylized
    info = json.loads(stdout)["images"][0]
    assert Path(info["grid"]).is_file()
    grid = Image.open(info["grid"])
    assert grid.size[0] > grid.size[1] * 2  # three panels side by side


def test_size_sets_the_long_side(capsys, tmp_path):
    img = tmp_path / "in.png"
    Image.fromarray(synthetic_photo(60, 90)).save(img)
    code, _, err = run(
        capsys, "image", str(img), "-o", str(tmp_path / "o.png"), "-s", "preset:1", "--size", "45"
    )
    assert code == 0, err
    out = tmp_path / "o.png"
    assert Image.open(out).size == (45, 30)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_tensorflow(flag):
    code = (
        "import sys, stylize_video\n"
        f"try:\n    stylize_video.main(['{flag}'])\nexcept SystemExit:\n    pass\n"
        "print('TF' if 'tensorflow' in sys.modules else 'NO-TF')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip().endswith("NO-TF")
    assert "stylize-video" in out.stdout
