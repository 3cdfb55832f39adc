"""The translation catalogues: complete, valid, compiled, and in step with the code.

`make lint` runs these too. Each complete language must have every entry translated and
none fuzzy; `make messages` run on a copy of the tree must not change any catalogue.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
COMPLETE = [code for code, _name in settings.LANGUAGES if code != "en"]


def catalogue(language: str) -> Path:
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


def entries(po: polib.POFile) -> dict:
    """What makemessages decides: the strings, where they come from, and their format flags."""
    return {
        (e.msgctxt, e.msgid, e.msgid_plural): (
            sorted({file for file, _line in e.occurrences}),
            sorted(flag for flag in e.flags if flag != "fuzzy"),
        )
        for e in po
        if not e.obsolete
    }


@pytest.mark.parametrize("language", COMPLETE)
def test_every_entry_is_translated_and_none_is_fuzzy(language):
    po = polib.pofile(str(catalogue(language)))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    obsolete = [e.msgid for e in po.obsolete_entries()]
    assert not untranslated, f"{language}: {len(untranslated)} untranslated: {untranslated[:5]}"
    assert not fuzzy, f"{language}: {len(fuzzy)} fuzzy, e.g. {fuzzy[:5]}"
    assert not obsolete, f"{language}: obsolete entries {obsolete[:5]}"
    assert po.percent_translated() == 100


@pytest.mark.parametrize("language", COMPLETE)
def test_msgfmt_accepts_the_catalogue_and_its_placeholders(language):
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(catalogue(language))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


@pytest.mark.parametrize("language", COMPLETE)
def test_the_compiled_catalogue_is_the_current_one(language):
    # `make install` compiles each .po; a stale .mo would serve yesterday's words.
    compiled = catalogue(language).with_suffix(".mo")
    assert compiled.exists(), f"{compiled} missing: run `make install`"
    assert compiled.stat().st_mtime >= catalogue(language).stat().st_mtime, (
        f"{compiled} is older than its .po: run `make install`"
    )


def test_make_messages_would_not_change_any_catalogue(tmp_path):
    """Every marked string is in the catalogues, and nothing is there that the code lost."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    copy = tmp_path / "tree"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    venv = Path(sys.executable).parent.parent
    subprocess.run(
        ["make", "-s", "messages", f"VENV={venv}"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    )
    for language in COMPLETE:
        ours = entries(polib.pofile(str(catalogue(language))))
        fresh = entries(polib.pofile(str(copy / "locale" / language / "LC_MESSAGES" / "django.po")))
        missing = sorted(k[1] for k in fresh.keys() - ours.keys())
        stale = sorted(k[1] for k in ours.keys() - fresh.keys())
        moved = sorted(k[1] for k in ours.keys() & fresh.keys() if ours[k] != fresh[k])
        assert not (missing or stale or moved), (
            f"{language}: run `make messages` and translate: new {missing[:5]}, "
            f"gone {stale[:5]}, moved {moved[:5]}"
        )
