"""The pages' message catalogs: every string a page shows has a Korean translation (Korean first),
two catalogs never translate one id two ways, and the placeholders survive translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from wallet.web.messages import LOCALES, template_messages, translations, untranslated

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _entries() -> dict[str, dict[str, str]]:
    """msgid -> {po file: msgstr} over every Korean catalog."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((LOCALES / "ko" / "LC_MESSAGES").glob("*.po")):
        with Path(path).open("rb") as handle:
            for message in read_po(handle, locale="ko"):
                if message.id:
                    found.setdefault(str(message.id), {})[path.name] = str(message.string)
    return found


def test_every_page_string_has_a_korean_translation() -> None:
    assert template_messages(), "the extraction found no page strings at all"
    missing = untranslated("ko")
    assert missing == {}, "\n".join(f"{where[0]}: {msgid!r}" for msgid, where in missing.items())


def test_no_two_catalogs_translate_one_string_two_ways() -> None:
    conflicting = {msgid: by_file for msgid, by_file in _entries().items() if len(set(by_file.values())) > 1}
    assert conflicting == {}


def test_translations_keep_their_placeholders_and_are_korean() -> None:
    for msgid, by_file in _entries().items():
        for name, msgstr in by_file.items():
            assert sorted(PLACEHOLDER.findall(msgstr)) == sorted(PLACEHOLDER.findall(msgid)), (name, msgid)
            letters = re.sub(r"%\(\w+\)s|[\W\d_]", "", msgstr)
            if letters:  # "English", "DELETE", ids: a few are meant to stay in Latin script
                assert re.search("[가-힣]", msgstr) or msgstr in ("English", "DELETE") or msgid == msgstr, (
                    name,
                    msgid,
                    msgstr,
                )


def test_the_compiled_catalog_answers_in_korean_and_english_needs_none() -> None:
    assert translations("ko").gettext("Sign in") == "로그인"
    assert translations("en").gettext("Sign in") == "Sign in"
