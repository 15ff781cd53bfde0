"""pyproject.toml in the form current setuptools reads without a deprecation warning."""

from __future__ import annotations

from pathlib import Path

import tomllib

# packaging comes with pytest
from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def test_license_is_an_spdx_expression_not_a_table():
    # setuptools >= 77 warns on `license = { text = ... }` and stops reading it in 2027
    license = _pyproject()["project"]["license"]
    assert isinstance(license, str)
    assert canonicalize_license_expression(license) == license
    classifiers = _pyproject()["project"].get("classifiers", [])
    assert not [c for c in classifiers if c.startswith("License ::")]  # both is an error


def test_build_requires_a_setuptools_that_reads_spdx_licenses():
    reqs = [Requirement(r) for r in _pyproject()["build-system"]["requires"]]
    (setuptools,) = [r for r in reqs if r.name == "setuptools"]
    assert not setuptools.specifier.contains("76.9")
    assert setuptools.specifier.contains("77.0")
