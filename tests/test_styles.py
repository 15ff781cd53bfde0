"""Named presets: preset:N and preset:NAME are the same style everywhere; `styles` lists
them; `styles --contact-sheet` draws them all on the bundled photo."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from models.errors import UserError
from models.styles import (
    DEFAULT_PRESET,
    DEFAULT_STYLE,
    NUM_PRESETS,
    PRESETS,
    parse_style,
    preset_number,
)
from realtime.jobs import styles as styles_job
from realtime.jobs.demo import DEMO_STYLE
from realtime.jobs.settings import StyleOptions
from stylize_video import _style_options, build_parser, main


def test_every_preset_has_a_unique_shell_safe_name():
    names = [p.name for p in PRESETS]
    assert len(PRESETS) == NUM_PRESETS == 26
    assert len(set(names)) == 26
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", n) for n in names), names
    assert [p.number for p in PRESETS] == list(range(26))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_name_and_number_parse_to_the_same_style(preset):
    by_number = parse_style(f"preset:{preset.number}")
    by_name = parse_style(f"preset:{preset.name}")
    assert by_number.items == by_name.items
    assert by_name.items[0].preset == preset.number
    assert preset_number(preset.name) == preset_number(str(preset.number)) == preset.number
    assert by_name.name == f"preset:{preset.number} {preset.name}"


def test_names_work_in_weighted_blends_and_any_case():
    spec = parse_style("preset:Ink-Wash:3,preset:7:1")
    assert {i.preset: i.weight for i in spec.items} == {22: 0.75, 7: 0.25}
    assert spec.name == "preset:22 ink-wash:0.75 + preset:7 primary-pop:0.25"


@pytest.mark.parametrize("text", ["preset:nonsense", "preset:26", "preset:ink wash", "preset:"])
def test_unknown_preset_is_one_line_that_says_how_to_list_them(text):
    with pytest.raises(UserError) as e:
        parse_style(text)
    msg = str(e.value)
    assert "\n" not in msg and "unknown preset" in msg
    assert "stylize-video styles" in msg


def test_unknown_preset_name_exits_2_from_the_cli(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(src)
    code = main(["image", str(src), "-s", "preset:no-such", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown preset 'no-such'" in err and "Traceback" not in err


def test_styles_lists_number_name_and_warnings(capsys):
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [i for i, ln in enumerate(lines) if re.match(r"^\s*\d+  ", ln)]
    assert len(rows) == 26
    for p, i in zip(PRESETS, rows, strict=True):
        assert lines[i].split()[:2] == [str(p.number), p.name]
        # a preset's warning is the line under it
        assert lines[i + 1].strip().startswith("warning:") == bool(p.warning)
    # the preset that turns a dog into pattern carries a warning
    assert "content lost" in lines[rows[3] + 1]


def test_styles_json(capsys):
    assert main(["styles", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == [p.name for p in PRESETS]


def test_styles_help_does_not_import_tensorflow():
    code = "import sys\nfrom stylize_video import main\ntry:\n    main(['styles', '--help'])\n"
    code += "except SystemExit:\n    pass\nassert 'tensorflow' not in sys.modules\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_contact_sheet_draws_every_preset_in_a_labelled_grid(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["styles", "--contact-sheet", str(out), "--size", "48", "--device", "cpu"]) == 0
    sheet = np.asarray(Image.open(out).convert("RGB"))
    rows, cols = styles_job.sheet_layout(27)
    assert (rows, cols) == (5, 6)
    w, h = Image.open(ROOT / "samples" / "portrait.jpg").size  # portrait: h is the long side
    tile_w = round(48 * w / h)
    assert sheet.shape == (rows * (48 + styles_job.LABEL_HEIGHT), cols * tile_w, 3)
    # every tile holds a picture (27 of 30 cells), and the presets differ from each other
    cells = [
        sheet[r * 66 + 18 : (r + 1) * 66, c * tile_w : (c + 1) * tile_w]
        for r in range(rows)
        for c in range(cols)
    ]
    assert all(cell.std() > 5 for cell in cells[:27])
    assert all((cell == 255).all() for cell in cells[27:])
    assert len({cell.tobytes() for cell in cells[:27]}) == 27
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside it


def test_contact_sheet_rejects_silly_sizes(tmp_path):
    with pytest.raises(UserError, match="--size"):
        styles_job.contact_sheet(str(tmp_path / "s.png"), size=5)


def test_demo_says_which_preset_it_used(monkeypatch, tmp_path, capsys):
    import realtime.jobs.image
    import realtime.jobs.video
    from realtime.jobs.demo import DEMO_STYLE, run_demo

    used = []
    monkeypatch.setattr(realtime.jobs.image, "stylize_images", lambda *a, **k: used.append(a))
    monkeypatch.setattr(realtime.jobs.video, "convert_video", lambda *a, **k: used.append(k))
    assert run_demo(str(tmp_path)) == 0
    n = preset_number(DEMO_STYLE.split(":")[1])
    assert f"preset {n}, {PRESETS[n].name}" in capsys.readouterr().out
    assert used[0][2] == [DEMO_STYLE] and used[1]["style"]["styles"] == [DEMO_STYLE]


def test_the_default_preset_is_the_one_that_keeps_faces_everywhere(capsys):
    # chosen on contact sheets of a portrait, a person in a room and a street: 7
    # primary-pop, the old default, turned faces and hair into flat yellow blobs
    assert DEFAULT_STYLE == "preset:5" and DEFAULT_PRESET.name == "expressive-oil"
    assert not DEFAULT_PRESET.warning and PRESETS[7].warning
    assert main(["styles"]) == 0
    out = capsys.readouterr().out
    assert [ln.split()[1] for ln in out.splitlines() if "(the default)" in ln] == ["expressive-oil"]
    args = build_parser().parse_args(["video", "in.mp4", "-o", "o.mp4"])
    assert _style_options(args).styles == (DEFAULT_STYLE,)
    with pytest.raises(SystemExit):
        main(["video", "--help"])
    assert "(default: preset:5, expressive-oil)" in " ".join(capsys.readouterr().out.split())
    assert DEMO_STYLE == DEFAULT_STYLE
    assert StyleOptions().styles == (DEFAULT_STYLE,)  # what build_stylizer uses by default


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ("preset:primary-pob", "did you mean preset:primary-pop?"),
        ("preset:Inkwash", "did you mean preset:ink-wash?"),
        ("primary-pop", "did you mean preset:primary-pop?"),  # a preset name as a file
        ("expressive-oil:0.5", "did you mean preset:expressive-oil?"),
    ],
)
def test_a_typo_or_a_bare_preset_name_gets_the_preset_suggested(spec, hint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    with pytest.raises(UserError, match=re.escape(hint)):
        parse_style(spec)


def test_no_suggestion_for_a_missing_image_file_or_a_far_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for spec in ("starry.jpg", "preset:zzz", "primary-pop.png"):
        with pytest.raises(UserError) as e:
            parse_style(spec)
        assert "did you mean" not in str(e.value)
