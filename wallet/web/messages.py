"""The wallet's message catalogs: English message ids in the templates, Korean translations in
`wallet/locale/ko/LC_MESSAGES/*.po` (one file per group of pages, all merged), compiled in memory
when the app starts (no .mo file to keep in step). English needs no catalog: the ids are English.

    python -m wallet.web.messages check        # exit 1 listing every page string without a Korean translation
    python -m wallet.web.messages stub FILE.po [SOURCE…]  # append those (of the SOURCE files, e.g.
                                                         # templates/wallet_credentials) to FILE.po
"""

from __future__ import annotations

import io
import sys
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates"
LOCALES = PACKAGE / "locale"
LANGUAGES = ("ko", "en")  # Korean first
DEFAULT_LANGUAGE = "ko"
# Babel's extraction of Jinja2 templates (the extractor is Jinja2's own), with the same options the
# environment uses: whitespace in {% trans %} blocks is trimmed, gettext is new-style.
EXTRACT_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}


def catalog(language: str) -> Catalog:
    """Every .po file of `language`, merged into one catalog."""
    merged = Catalog(locale=language)
    for path in sorted((LOCALES / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id:
                    merged[message.id] = message
    return merged


@cache
def translations(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog(language))
    buffer.seek(0)
    return Translations(buffer)


def N_(message: str) -> str:  # gettext's name for "mark for translation, translate later"
    """Mark a page string in Python (a title, a field error) for the catalog; templates translate it."""
    return message


def template_messages() -> dict[str, list[str]]:
    """Every translatable string of the pages -> where it is (file:line): the templates' `_()` and
    {% trans %}, and the `N_()` of the page modules (wallet/web/*.py)."""
    found: dict[str, list[str]] = {}
    sources = [
        (TEMPLATES, [("**.html", "jinja2")], {"**.html": EXTRACT_OPTIONS}),
        (PACKAGE / "web", [("**.py", "python")], {}),
    ]
    for directory, method_map, options in sources:
        keywords = {"N_": None} if directory.name == "web" else DEFAULT_KEYWORDS
        extracted = extract_from_dir(str(directory), method_map, options_map=options, keywords=keywords)
        for filename, lineno, message, _comments, _context in extracted:
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    found.setdefault(msgid, []).append(f"{directory.name}/{filename}:{lineno}")
    return found


def untranslated(language: str = "ko") -> dict[str, list[str]]:
    known = catalog(language)
    return {
        msgid: where for msgid, where in template_messages().items() if msgid not in known or not known[msgid].string
    }


def stub(path: Path, sources: list[str] | None = None) -> int:
    """Append every untranslated page string (found in a file whose path starts with one of
    `sources`, when given) to `path` (created if missing) with an empty msgstr."""
    from babel.messages.pofile import write_po

    existing = Catalog(locale="ko")
    if path.exists():
        with path.open("rb") as handle:
            existing = read_po(handle, locale="ko")
    missing = {
        msgid: where
        for msgid, where in untranslated().items()
        if not sources or any(w.startswith(tuple(sources)) for w in where)
    }
    for msgid, where in sorted(missing.items()):
        if msgid not in existing:
            existing.add(msgid, "", locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1])) for w in where])
    with path.open("wb") as handle:
        write_po(handle, existing, width=120, sort_output=True)
    return len(missing)


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "stub":
        print(f"{stub(Path(argv[2]), argv[3:])} strings to translate in {argv[2]}")
        return 0
    if argv[1:] != ["check"]:
        print(__doc__)
        return 2
    missing = untranslated()
    for msgid, where in sorted(missing.items()):
        print(f"{where[0]}: no Korean for {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
