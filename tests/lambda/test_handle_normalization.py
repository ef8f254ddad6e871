"""The sign-up handler: look-alike handles, invisible characters, mixed scripts, and attributes the database cannot
store, against a REAL PostgreSQL with every migration applied (0005 enforces the normalised form in the schema).

Before the change every look-alike below was inserted as a second user beside the first; NUL bytes and lone
surrogates raised a bare ValueError / UnicodeEncodeError with no log line; a 1 MB value was reported as "database
unavailable".
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.lambda_support import admin_rows, confirmation_event, user_count

pytestmark = pytest.mark.usefixtures("handler_env")

INVISIBLE = "contains an invisible or control character (U+{:04X}, category {}); use visible letters, digits and " \
            "punctuation only"
MIXED = "mixes letters from the scripts {}; a handle uses one script (Latin may be combined with Han, " \
        "Hiragana/Katakana, Bopomofo or Hangul)"


@pytest.fixture
def db_url(migrated_database_url, handler_env):
    handler_env.setenv("CONNECTION_URL", migrated_database_url)
    return migrated_database_url


def _log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# -- the pure rule ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, stored", [
    ("jose\u0301", "jos\u00e9"),                 # NFD -> NFC
    ("  jos\u00e9  ", "jos\u00e9"),              # surrounding spaces
    ("\u3000jos\u00e9\u00a0", "jos\u00e9"),      # ideographic space, no-break space: NFKC makes them spaces
    ("\uff4a\uff4f\uff53\u00e9", "jos\u00e9"),   # full-width letters
    ("\ufb01ona", "fiona"),                      # the fi ligature
    ("\U0001d41a\U0001d427\U0001d41d\U0001d42b\U0001d41e\U0001d430", "andrew"),  # mathematical bold
    ("andrew_brown-2", "andrew_brown-2"),
    ("\u043c\u043e\u0441\u043a\u0432\u0430", "\u043c\u043e\u0441\u043a\u0432\u0430"),  # all Cyrillic
    ("\u03b1\u03b2\u03b3", "\u03b1\u03b2\u03b3"),  # all Greek
    ("tanaka\u592a\u90ce", "tanaka\u592a\u90ce"),  # Latin with Han
    ("\u3059\u305a\u304d\u30fc\u540d", "\u3059\u305a\u304d\u30fc\u540d"),  # Hiragana, prolonged mark, Han
    ("kim\ud55c", "kim\ud55c"),                  # Latin with Hangul
    ("\U0001f986duck", "\U0001f986duck"),        # a symbol belongs to no script
])
def test_normalize_handle_folds_look_alikes_to_the_handle_they_imitate(load_handler, raw, stored):
    assert load_handler().normalize_handle(raw) == stored


@pytest.mark.parametrize("raw, reason", [
    ("jo\u200bs\u00e9", INVISIBLE.format(0x200B, "Cf")),     # zero-width space
    ("jo\u200cs\u00e9", INVISIBLE.format(0x200C, "Cf")),     # zero-width non-joiner
    ("jo\u200ds\u00e9", INVISIBLE.format(0x200D, "Cf")),     # zero-width joiner
    ("jo\u2060s\u00e9", INVISIBLE.format(0x2060, "Cf")),     # word joiner
    ("\ufeffjos\u00e9", INVISIBLE.format(0xFEFF, "Cf")),     # byte-order mark
    ("jo\u00ads\u00e9", INVISIBLE.format(0x00AD, "Cf")),     # soft hyphen
    ("\u202eesoj", INVISIBLE.format(0x202E, "Cf")),          # right-to-left override
    ("jo\tse", INVISIBLE.format(0x0009, "Cc")),
    ("jo\u2028se", INVISIBLE.format(0x2028, "Zl")),
    ("jo\u1680se", INVISIBLE.format(0x1680, "Zs")),          # a space NFKC does not fold
    ("jo\u3164se", INVISIBLE.format(0x1160, "Lo")),          # Hangul filler (NFKC: U+1160, also blank)
    ("jos\ufe0fe", INVISIBLE.format(0xFE0F, "Mn")),          # variation selector
    ("\u0430ndrew", MIXED.format("CYRILLIC, LATIN")),        # Cyrillic a for Latin a
    ("p\u0430yp\u0430l", MIXED.format("CYRILLIC, LATIN")),
    ("\u03bfmega", MIXED.format("GREEK, LATIN")),            # Greek omicron
    ("user\u0661", MIXED.format("ARABIC, LATIN")),           # Arabic-Indic digit one
    ("\u0645\u0631\u062d\u0628\u0627\u05e9\u05dc\u05d5\u05dd", MIXED.format("ARABIC, HEBREW")),
    ("\u043f\u0440\u0438\u0432\u0435\u0442\u3042", MIXED.format("CYRILLIC, HIRAGANA")),
    ("   ", "is empty once normalised (NFKC, spaces stripped)"),
    ("\u3000", "is empty once normalised (NFKC, spaces stripped)"),
])
def test_normalize_handle_refuses_invisible_and_mixed_script_handles(load_handler, raw, reason):
    module = load_handler()
    with pytest.raises(module.InvalidHandleError) as caught:
        module.normalize_handle(raw)
    assert caught.value.reason == reason
    assert str(caught.value) == f"user attribute 'preferred_username' {reason}"
    assert caught.value.attribute == "preferred_username"


# -- through the handler, beside an existing user -----------------------------------------------------------------
@pytest.mark.parametrize("look_alike", [
    "jose\u0301", " jos\u00e9", "jos\u00e9 ", "\uff4a\uff4f\uff53\u00e9", "JOS\u00c9", "\uff2a\uff2f\uff33\u00c9",
])
def test_a_look_alike_of_an_existing_handle_is_the_same_handle(db_url, load_handler, context, look_alike):
    module = load_handler()
    module.handler(confirmation_event(handle="jos\u00e9", name="First Jose"), context)
    with pytest.raises(module.HandleTakenError) as caught:
        module.handler(confirmation_event(handle=look_alike, name="Second Jose"), context)
    assert str(caught.value).startswith("the handle is already taken by another user (UniqueViolation, "
                                        "SQLSTATE 23505, constraint ")
    assert user_count(db_url) == 1


def test_the_ligature_and_the_letters_are_one_handle(db_url, load_handler, context):
    module = load_handler()
    module.handler(confirmation_event(handle="\ufb01ona"), context)
    assert [r["handle"] for r in admin_rows(db_url)] == ["fiona"]
    with pytest.raises(module.HandleTakenError):
        module.handler(confirmation_event(handle="Fiona"), context)
    assert user_count(db_url) == 1


def test_a_stored_handle_is_normalised(db_url, load_handler, context):
    load_handler().handler(confirmation_event(handle="  \uff2a\uff4f\uff53e\u0301  "), context)
    assert [r["handle"] for r in admin_rows(db_url)] == ["Jos\u00e9"]


@pytest.mark.parametrize("impostor, reason", [
    ("\u0430ndrewbrown", MIXED.format("CYRILLIC, LATIN")),
    ("andrew\u200bbrown", INVISIBLE.format(0x200B, "Cf")),
    ("andrewbrown\u2060", INVISIBLE.format(0x2060, "Cf")),
    ("\ufeffandrewbrown", INVISIBLE.format(0xFEFF, "Cf")),
])
def test_an_impostor_handle_is_refused_with_a_clear_error_and_a_log_line(db_url, load_handler, context, capsys,
                                                                        impostor, reason):
    module = load_handler()
    module.handler(confirmation_event(handle="andrewbrown"), context)
    capsys.readouterr()
    event = confirmation_event(handle=impostor, name="Secret Name", email="secret@example.com")
    with pytest.raises(module.InvalidHandleError) as caught:
        module.handler(event, context)
    assert str(caught.value) == f"user attribute 'preferred_username' {reason}"
    assert user_count(db_url) == 1
    lines = _log_lines(capsys)
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["message"] == "confirmation event has an attribute that cannot be stored"
    assert (error["attribute"], error["error_type"], error["reason"]) == ("preferred_username",
                                                                          "InvalidHandleError", reason)
    text = json.dumps(lines)
    assert "Secret Name" not in text and "secret@example.com" not in text


# -- values PostgreSQL cannot store ------------------------------------------------------------------------------
BAD_TEXT = {
    "NUL byte": ("a\x00b", "InvalidAttributeError", "contains a NUL byte, which PostgreSQL text cannot store"),
    "lone surrogate": ("a\ud800b", "InvalidAttributeError",
                       "is not valid Unicode text (it contains a lone surrogate)"),
    "1 MB": ("x" * 1_000_000, "AttributeTooLongError", "is 1000000 bytes of UTF-8; at most 8192 are accepted"),
    "8 KiB + 1 multibyte": ("\u540d" * 2731, "AttributeTooLongError",
                            "is 8193 bytes of UTF-8; at most 8192 are accepted"),
}


@pytest.mark.parametrize("attribute", ["name", "preferred_username", "email", "sub"])
@pytest.mark.parametrize("label", list(BAD_TEXT))
def test_text_the_database_cannot_store_raises_its_own_error_and_logs_it(db_url, load_handler, context, capsys,
                                                                         attribute, label):
    value, error_type, reason = BAD_TEXT[label]
    module = load_handler()
    event = confirmation_event(name="Hidden Person", email="hidden@example.com")
    event["request"]["userAttributes"][attribute] = value
    with pytest.raises(getattr(module, error_type)) as caught:
        module.handler(copy.deepcopy(event), context)
    assert str(caught.value) == f"user attribute '{attribute}' {reason}"
    assert isinstance(caught.value, module.InvalidAttributeError) and isinstance(caught.value, ValueError)
    assert user_count(db_url) == 0
    assert module._connection is None  # refused before any database work
    lines = _log_lines(capsys)
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert (error["attribute"], error["error_type"], error["reason"]) == (attribute, error_type, reason)
    text = json.dumps(lines)
    assert "Hidden Person" not in text and "hidden@example.com" not in text


def test_the_largest_values_cognito_sends_still_fit(db_url, load_handler, context):
    # The pool allows name up to 2048 characters: 4-byte characters make 8 KiB exactly.
    name = "\U0001f986" * 2048
    load_handler().handler(confirmation_event(name=name), context)
    assert [r["display_name"] for r in admin_rows(db_url)] == [name]
