"""The member id a worker joined its group with, kept in its data directory."""

from __future__ import annotations

from pathlib import Path

from transport.groupmember import load_member, save_member


def test_saved_for_one_group_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "group-member.json"
    save_member(path, "blockhook", "faust-0.15.3-abc")
    assert load_member(path, "blockhook") == "faust-0.15.3-abc"
    assert load_member(path, "other-app") is None  # another app_id: not ours to remove
    save_member(path, "blockhook", "faust-0.15.3-def")  # replaced atomically
    assert load_member(path, "blockhook") == "faust-0.15.3-def"
    assert not path.with_name(path.name + ".tmp").exists()


def test_missing_or_broken_files_name_no_member(tmp_path: Path) -> None:
    path = tmp_path / "group-member.json"
    assert load_member(path, "blockhook") is None
    for junk in [b"", b"{", b"[]", b'{"group": "blockhook", "member_id": ""}', b'{"group": 1}']:
        path.write_bytes(junk)
        assert load_member(path, "blockhook") is None
