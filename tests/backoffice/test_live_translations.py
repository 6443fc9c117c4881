"""Hebrew by default, English on request: our strings (the admin, the dashboard, the live pages) are all
translated, and the compiled catalogue that CI and ``make run`` use is the one in the repository."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale" / "he" / "LC_MESSAGES"
SOURCES = ("crm", "voice", "templates", "agentlocator")

pytestmark = pytest.mark.django_db


def po_entries(po: Path = LOCALE / "django.po") -> list[tuple[str, str, list[str], str]]:
    """(msgid, msgid_plural, msgstrs, flags) of every entry but the header, strings as written in the file; a
    msgid with a context (msgctxt) as gettext keys it: "context\x04msgid"."""
    entries = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = ""
        for line in block.splitlines():
            if match := re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?|msgctxt) "(.*)"$', line):
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
            msgstrs = [v for k, v in fields.items() if k.startswith("msgstr")]
            msgid = f"{fields['msgctxt']}\x04{fields['msgid']}" if "msgctxt" in fields else fields["msgid"]
            entries.append((msgid, fields.get("msgid_plural", ""), msgstrs, flags))
    return entries


def test_every_string_of_ours_has_a_hebrew_translation():
    entries = po_entries()
    assert len(entries) > 100
    untranslated = [msgid for msgid, _, msgstrs, _ in entries if not all(msgstrs)]
    fuzzy = [msgid for msgid, _, _, flags in entries if "fuzzy" in flags]
    assert untranslated == [] and fuzzy == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext is not installed (apt-get install -y gettext)")
def test_no_string_in_the_code_is_missing_from_the_translations(tmp_path):
    """makemessages over a copy of the sources finds nothing that locale/he does not already translate."""
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "locale").mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "he", "--no-location", "--verbosity", "0"],
        cwd=tmp_path,
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    extracted = {msgid for msgid, *_ in po_entries(tmp_path / "locale" / "he" / "LC_MESSAGES" / "django.po")}
    ours = {msgid for msgid, *_ in po_entries()}
    assert sorted(extracted - ours) == [], "run makemessages -l he, translate, and compile (see locale/README)"


def unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n")


def test_the_compiled_catalogue_matches_the_translations():
    """django.mo is committed (nothing compiles it in CI or ``make run``): it must say what django.po says."""
    with open(LOCALE / "django.mo", "rb") as f:
        catalogue = gettext.GNUTranslations(f)
    for msgid, plural, msgstrs, _ in po_entries():
        if plural:
            assert catalogue.ngettext(unescape(msgid), unescape(plural), 1) == unescape(msgstrs[0]), msgid
            assert catalogue.ngettext(unescape(msgid), unescape(plural), 5) == unescape(msgstrs[3]), msgid
        else:
            assert catalogue.gettext(unescape(msgid)) == unescape(msgstrs[0]), msgid


def test_the_admin_speaks_hebrew_by_default(owner_client):
    html = owner_client.get(reverse("admin:index")).content.decode()

    assert '<html lang="he" dir="rtl"' in html
    assert "שיחות ולידים" in html  # our index title
    assert "14 הימים האחרונים" in html  # the dashboard
    assert "שיחות ביום" in html


def test_the_live_pages_speak_hebrew(owner_client):
    html = owner_client.get(reverse("admin:crm_call_live")).content.decode()
    assert "שיחות חיות" in html
    assert "אין שיחות פעילות כרגע" in html


def test_choosing_english_switches_the_admin_to_english(owner_client):
    response = owner_client.post("/i18n/setlang/", {"language": "en", "next": reverse("admin:index")}, follow=True)

    html = response.content.decode()
    assert '<html lang="en" dir="ltr"' in html
    assert "Calls and leads" in html and "The last 14 days" in html
    assert "שיחות ולידים" not in html

    live = owner_client.get(reverse("admin:crm_call_live")).content.decode()
    assert "Live calls" in live and "שיחות חיות" not in live
