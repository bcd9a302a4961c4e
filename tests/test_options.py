"""A request's options: one set of limits for the library, a tighter one for the page."""

from __future__ import annotations

import pytest

from musicgen.errors import InputError
from musicgen.options import LIBRARY_LIMITS, PAGE_LIMITS, GenerateOptions, request_options


def test_page_limits_are_tighter_than_the_library_s() -> None:
    long = GenerateOptions(seconds=90)
    long.validate()  # the library allows 90 s ...
    with pytest.raises(InputError, match=f"{PAGE_LIMITS.max_seconds:g}"):
        long.validate(PAGE_LIMITS)  # ... the page does not
    assert PAGE_LIMITS.max_seconds < LIBRARY_LIMITS.max_seconds
    with pytest.raises(InputError, match="adapt_steps"):
        request_options(10, 1.0, 0, 1.0, -1, PAGE_LIMITS.max_adapt_steps + 1, "seed")


def test_request_options_converts_the_page_s_values() -> None:
    options = request_options("12", "0.8", 5.0, "0.9", "7", 0, "synth")
    assert options == GenerateOptions(seconds=12.0, temperature=0.8, top_k=5, top_p=0.9,
                                      random_seed=7, render="synth")
    with pytest.raises(InputError, match="Bad parameter value"):
        request_options("ten", 1.0, 0, 1.0, -1, 0, "seed")


def test_no_prior_is_only_for_the_seed_renderer() -> None:
    GenerateOptions(use_prior=False).validate()
    with pytest.raises(InputError, match="use_prior"):
        GenerateOptions(render="synth", use_prior=False).validate()
