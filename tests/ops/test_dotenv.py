"""``ops.dotenv``: quoting and unquoting, reading, merging, and atomic writes (a full disk leaves ``.env`` whole)."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ops import dotenv
from ops.errors import CruddurError


def test_quote():
    assert dotenv.quote("postgresql://u:p@h:5432/db?sslmode=verify-full") == "postgresql://u:p@h:5432/db?sslmode=verify-full"
    assert dotenv.quote('a b"$c\\\n') == '"a b\\"\\$c\\\\\\n"'
    assert dotenv.quote("") == '""'


def test_merge_keeps_other_lines_replaces_and_removes_keys(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# mine\nKEEP=1\nexport CONNECTION_URL=old\nGONE=x\nCONNECTION_URL=older\n")
    path.chmod(0o644)
    dotenv.merge(path, {"CONNECTION_URL": "postgresql://a:b@h/db", "NEW": "two words"}, remove=("GONE",))
    assert path.read_text() == '# mine\nKEEP=1\nCONNECTION_URL=postgresql://a:b@h/db\nNEW="two words"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dotenv.merge(path, {}, remove=("KEEP", "NEW", "CONNECTION_URL"))
    assert path.read_text() == "# mine\n"


def test_merge_creates_the_file_0600(tmp_path):
    path = tmp_path / ".env"
    dotenv.merge(path, {"A": "1"})
    assert path.read_text() == "A=1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == [".env"]


def test_read_raw_first_line_wins_and_keeps_quoting(tmp_path):
    path = tmp_path / ".env"
    assert dotenv.read_raw(path) == {}
    path.write_text('# c\nexport A=skip\nA="q v"\nA=second\nB=\n C=indented\nnot a pair\n')
    assert dotenv.read_raw(path) == {"A": '"q v"', "B": ""}


@pytest.mark.parametrize("value", ["", "plain", "postgresql://u:p%40ss@h:5432/db?sslmode=verify-full", "two words",
                                   'q"uote', "$HOME", "back\\slash", "line\nbreak", "\\n", "'single'"])
def test_read_gives_back_what_merge_wrote(tmp_path, value):
    path = tmp_path / ".env"
    dotenv.merge(path, {"V": value})
    assert dotenv.read(path) == {"V": value}


def test_unquote_reads_hand_written_quoting():
    assert dotenv.unquote("'a \\n $b'") == "a \\n $b"  # single quotes: literal
    assert dotenv.unquote('"a\\"b\\\\c"') == 'a"b\\c'
    assert dotenv.unquote('"') == '"' and dotenv.unquote("bare") == "bare"


def test_merge_puts_the_header_on_a_new_file_only(tmp_path):
    path = tmp_path / ".env"
    dotenv.merge(path, {"A": "1"}, header="# written by a tool")
    assert path.read_text() == "# written by a tool\nA=1\n"
    dotenv.merge(path, {"B": "2"}, header="# written by a tool")
    assert path.read_text() == "# written by a tool\nA=1\nB=2\n"
    other = tmp_path / "other"
    other.write_text("MINE=1\n")
    dotenv.merge(other, {"A": "1"}, header="# written by a tool")
    assert other.read_text() == "MINE=1\nA=1\n"


def test_a_full_disk_leaves_the_file_whole_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("CONNECTION_URL=postgresql://a:b@h/db\nOTHER=1\n")
    before = path.read_text()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CruddurError) as caught:
        dotenv.merge(path, {"CONNECTION_URL": "postgresql://a:c@h/db"})
    assert caught.value.message == f"cannot write {path}: No space left on device; the file is unchanged"
    assert path.read_text() == before
    assert os.listdir(tmp_path) == [".env"]


def test_write_atomic_replaces_the_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text("old\n")
    inode = path.stat().st_ino
    dotenv.write_atomic(path, "new\n")
    assert path.read_text() == "new\n" and path.stat().st_ino != inode
