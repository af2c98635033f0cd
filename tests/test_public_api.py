"""The public names the README shows keep working from the top-level package."""

from __future__ import annotations

import importlib
import inspect

import seu_sensitivity as seu


def test_every_public_name_resolves():
    for name in seu.__all__:
        value = getattr(seu, name)
        assert callable(value), name


def test_public_names_are_the_ones_defined_in_the_layers():
    # each public name is the object of the module that defines it, not a copy
    from seu_sensitivity.inference import diagnostics, fitting
    from seu_sensitivity.model import design, priors, simulate, stacking

    assert seu.fit is fitting.fit and seu.diagnose is diagnostics.diagnose
    assert seu.factorial_design is design.factorial_design
    assert seu.CellData is stacking.CellData and seu.simulate_hierarchical is simulate.simulate_hierarchical
    assert seu.HM01Priors is priors.HM01Priors


def test_the_pilot_loader_is_public():
    datasets = importlib.import_module("seu_sensitivity.datasets")
    assert inspect.isfunction(datasets.factorial_pilot)


def test_an_unknown_name_is_an_attribute_error():
    try:
        seu.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name resolved")
