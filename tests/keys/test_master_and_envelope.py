"""Master key loading and envelope encryption."""

from __future__ import annotations

import os
import stat

import pytest

from keys import envelope
from keys.jwk import b64url_encode
from keys.master import MasterKeyError, load_master_key


def test_key_file_is_created_on_first_run_with_mode_0600_and_reused(tmp_path) -> None:
    path = tmp_path / "sub" / "master.key"
    first = load_master_key(None, path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(None, path) == first


def test_environment_value_wins_over_the_file(tmp_path) -> None:
    key = os.urandom(32)
    assert load_master_key(b64url_encode(key), tmp_path / "master.key") == key
    assert not (tmp_path / "master.key").exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path, mode) -> None:
    path = tmp_path / "master.key"
    load_master_key(None, path)
    path.chmod(mode)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(None, path)


# A fixed short key (16 bytes, not 32): a random one would name the test differently in each
# xdist worker, and the workers must collect the same tests.
@pytest.mark.parametrize("content", ["not base64!", b64url_encode(bytes(range(16))), ""])
def test_malformed_key_file_is_refused(tmp_path, content) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(MasterKeyError):
        load_master_key(None, path)


def test_malformed_environment_key_is_refused(tmp_path) -> None:
    with pytest.raises(MasterKeyError, match="SEOUL_WALLET_MASTER_KEY"):
        load_master_key("c2hvcnQ", tmp_path / "master.key")


def test_record_round_trip_and_binding_to_owner_and_record() -> None:
    master = envelope.new_data_key()
    data_key = envelope.new_data_key()
    wrapped = envelope.wrap_data_key(master, data_key, "citizen-a")
    assert envelope.unwrap_data_key(master, wrapped, "citizen-a") == data_key
    with pytest.raises(envelope.DecryptionError):
        envelope.unwrap_data_key(master, wrapped, "citizen-b")

    ciphertext = envelope.encrypt_record(data_key, "생년월일 1999-01-01".encode(), "citizen-a", "rec-1")
    assert b"1999" not in ciphertext
    assert envelope.decrypt_record(data_key, ciphertext, "citizen-a", "rec-1").decode() == "생년월일 1999-01-01"
    for owner, record in (("citizen-b", "rec-1"), ("citizen-a", "rec-2")):
        with pytest.raises(envelope.DecryptionError):
            envelope.decrypt_record(data_key, ciphertext, owner, record)


def test_any_flipped_byte_fails_to_decrypt() -> None:
    key = envelope.new_data_key()
    ciphertext = envelope.encrypt(key, b"secret", b"ctx")
    for position in range(len(ciphertext)):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        with pytest.raises(envelope.DecryptionError):
            envelope.decrypt(key, bytes(tampered), b"ctx")


def test_associated_data_parts_cannot_be_shifted() -> None:
    assert envelope.associated_data("ab", "c") != envelope.associated_data("a", "bc")


def test_workers_starting_together_share_one_key(tmp_path) -> None:
    import threading

    path = tmp_path / "master.key"
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(load_master_key(None, path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key"]
