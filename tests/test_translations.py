"""The French catalogue is complete, up to date with the source, and compiled: a sentence added to the
code without its translation, or a .po edited without regenerating the .pot or recompiling the
.mo, fails here (the fix: `make translations`, then fill in the French)."""
import gettext
import re
import shlex
import subprocess
import sys

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from .conftest import PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "webapp" / "translations"
FRENCH_PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
FRENCH_MO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.mo"


def read_catalogue(path):
    with open(path, "rb") as file:
        return read_po(file)


def msgids(catalogue) -> set:
    return {(message.context, message.id) for message in catalogue if message.id}


def extract_command(output) -> list[str]:
    """`make translations`' own extract command (its keywords), writing to `output`."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    line = re.search(r"^\t\$\(BIN\)/pybabel extract (.*)$", makefile, re.M).group(1)
    arguments = shlex.split(line)
    arguments[arguments.index("-o") + 1] = str(output)
    return [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", *arguments]


def test_every_french_sentence_is_translated_and_none_is_fuzzy():
    untranslated = [message.id for message in read_catalogue(FRENCH_PO) if message.id and (
        message.fuzzy or not message.string
        or (isinstance(message.string, tuple) and not all(message.string)))]
    assert untranslated == [], "no French (or fuzzy) for these: fill them in messages.po"


def test_the_template_holds_every_sentence_of_the_source_and_no_other(tmp_path):
    extracted = tmp_path / "messages.pot"
    subprocess.run(extract_command(extracted), cwd=PROJECT_ROOT, check=True)
    in_source, in_template = msgids(read_catalogue(extracted)), msgids(read_catalogue(TRANSLATIONS / "messages.pot"))
    assert sorted(in_source - in_template, key=str) == [], "missing from messages.pot: run make translations"
    assert sorted(in_template - in_source, key=str) == [], "gone from the source: run make translations"
    assert msgids(read_catalogue(FRENCH_PO)) == in_template, "messages.po lags messages.pot: run make translations"


def test_the_compiled_catalogue_says_what_the_po_says(tmp_path):
    compiled = tmp_path / "messages.mo"
    with open(compiled, "wb") as file:
        write_mo(file, read_catalogue(FRENCH_PO))
    with open(compiled, "rb") as fresh, open(FRENCH_MO, "rb") as committed:
        expected, actual = gettext.GNUTranslations(fresh)._catalog, gettext.GNUTranslations(committed)._catalog
    stale = sorted({key for key in expected.keys() | actual.keys() if expected.get(key) != actual.get(key)}, key=str)
    assert stale == [], "messages.mo is stale: run pybabel compile -d webapp/translations"
