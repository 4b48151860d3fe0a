"""RFC 8785 (JCS) canonical JSON, fast for the values this platform hashes.

`rfc8785` serialises in pure Python, value by value; the consent ledger canonicalises every record,
event and leaf it writes, so that serialiser was ~5 % of a presentation's CPU. For JSON whose numbers
are all integers within I-JSON's range and whose member names hold no character in U+E000..U+FFFF,
RFC 8785's output is exactly what the C `json` encoder writes with sorted keys, no whitespace and no
ASCII escaping:
- strings: both escape only `"`, `\\` and the controls below U+0020 (`\\b \\t \\n \\f \\r`, the rest as
  lowercase `\\u00xx`) and write every other character as is (RFC 8785 section 3.2.2.2);
- integers: both write the shortest decimal form, which for |n| < 2**53 is ECMAScript's too;
- member order: RFC 8785 sorts by UTF-16 code units, Python by code points; the two orders differ only
  between a character in U+E000..U+FFFF and one beyond U+FFFF (a surrogate pair sorts below U+E000).
Anything else (floats, larger integers, other types, lone surrogates) goes to `rfc8785`, which
formats or refuses it (`rfc8785.CanonicalizationError`). tests/vc/test_canonical_json.py compares the
two on generated values.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

# I-JSON (RFC 7493 section 2.2): integers an IEEE 754 double holds exactly.
_SAFE_INTEGER = 2**53 - 1
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode


def _plain(value: Any) -> bool:
    """True when the C encoder's output of `value` is already RFC 8785's."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _plain(item):
                return False
            if not key.isascii() and any("\ue000" <= char <= "\uffff" for char in key):
                return False
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of `value`; raises rfc8785.CanonicalizationError as it does."""
    if _plain(value):
        try:
            return _ENCODE(value).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says what is wrong with it
            pass
    return rfc8785.dumps(value)
