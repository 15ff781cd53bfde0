"""`stylize-video models list|fetch|info`."""

from __future__ import annotations

import json

import stylize_video


def test_models_fetch_then_info_reports_cache_and_verified_hashes(capsys, magenta_module):
    assert stylize_video.main(["models", "fetch", "presets"]) == 0
    capsys.readouterr()
    assert stylize_video.main(["models", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_name = {m["name"]: m for m in info["models"]}
    assert info["engine"] == "openvino"  # no GPU here
    assert by_name["presets"]["converted"] and by_name["presets"]["formats"]["openvino"]
    assert by_name["presets"]["path"].endswith("-openvino-v1")
    assert by_name["magenta"]["path"].startswith(info["cache_dir"])
    sources = by_name["magenta"]["sources"]
    assert [s["source"].split()[-1] for s in sources] == [
        "arbitrary_predict.onnx",
        "arbitrary_transform.onnx",
    ]
    assert all(s["verified"] and len(s["sha256"]) == 64 for s in sources)


def test_models_unknown_name_is_a_user_error(capsys):
    assert stylize_video.main(["models", "info", "nonesuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nonesuch'" in err and "magenta" in err
