"""The registry of model kinds: the factory, the cache's table, and no TensorFlow at import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from models.errors import UserError


def test_unknown_kind_is_a_user_error_naming_the_known_ones():
    from models import kinds

    with pytest.raises(UserError, match=r"unknown model kind 'nonesuch'.*magenta.*presets"):
        kinds.create("nonesuch", object())


def test_kinds_declare_rep_and_strength_mode():
    from models import kinds

    assert set(kinds.KINDS) == {"magenta", "combined", "presets"}
    modes = {n: k.strength_mode for n, k in kinds.KINDS.items()}
    assert modes == {"magenta": kinds.BOTTLENECK, "combined": kinds.PIXELS, "presets": kinds.PIXELS}
    assert kinds.create("presets", None).rep_shape == (1, 26)


def test_cache_table_comes_from_the_registry():
    from models import cache, kinds

    assert set(cache.MODELS) == {"magenta", "presets"}  # combined is never cached
    for name, (sources, description) in cache.MODELS.items():
        assert sources == kinds.KINDS[name].sources and description


def test_registry_and_cache_import_no_tensorflow():
    code = "import sys, models.cache, models.kinds; print('tensorflow' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr[-500:]
