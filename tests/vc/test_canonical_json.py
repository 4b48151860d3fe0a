"""canonical_json writes exactly rfc8785's bytes, and refuses exactly what rfc8785 refuses."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from vc.canonical_json import canonical_json

# Text that reaches every branch: controls, quotes, Hangul, the private-use block U+E000..U+FFFF
# whose order against astral characters differs between UTF-16 and code points, astral characters.
TEXT = st.text(
    st.one_of(
        st.characters(max_codepoint=0x7F),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
        st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF),
        st.characters(min_codepoint=0x10000, max_codepoint=0x1FFFF),
    ),
    max_size=6,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**54), max_value=2**54),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=5), max_leaves=20
)


def outcome(function, value):
    try:
        return function(value)
    except rfc8785.CanonicalizationError as exc:
        return type(exc)


@settings(max_examples=1500, deadline=None)
@given(JSON)
def test_same_bytes_as_rfc8785(value):
    assert outcome(canonical_json, value) == outcome(rfc8785.dumps, value)


@pytest.mark.parametrize(
    "value",
    [
        # U+E000 sorts after U+10000 by code point but before it by UTF-16 code unit.
        {"\ue000": 1, "\U00010000": 2},
        {"a": 2**53 - 1, "b": -(2**53 - 1)},
        {"n": 1.0, "m": 1e21, "k": 5e-324},
        ['\u0000\u001f\u007f\u2028"\\/', "청년수당"],
    ],
)
def test_edges_match_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [{"big": 2**53}, ["\ud800"], {1: "key not a string"}])
def test_refuses_what_rfc8785_refuses(value):
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)
