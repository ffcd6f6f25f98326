from __future__ import annotations

import pytest

from carnet.core.canonical_json import canonical_json
from carnet.core.hashing import sha256_of_json


def test_key_order_and_spacing_do_not_change_the_text() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert sha256_of_json({"b": 1, "a": 2}) == sha256_of_json({"a": 2, "b": 1})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_numbers_without_a_json_form_are_refused(value: float) -> None:
    with pytest.raises(TypeError, match=r"\$\.x"):
        canonical_json({"x": value})


def test_non_text_keys_are_refused_with_their_path() -> None:
    with pytest.raises(TypeError, match=r"\$\.a: key 1 is not text"):
        canonical_json({"a": {1: "x"}})
