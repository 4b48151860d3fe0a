"""RFC 9162 §2.1: proofs from stored subtrees, checked against a reference written from the RFC text.

The reference below (MTH, PATH, PROOF/SUBPROOF and both verification procedures) is transcribed
from the RFC's definitions over plain lists and shares no code with consent.merkle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import merkle

# -- reference, from the RFC alone ---------------------------------------------------------------


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def ref_verify_consistency(first: int, second: int, h1: bytes, h2: bytes, path: list[bytes]) -> bool:
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [h1, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = hashlib.sha256(b"\x01" + c + fr).digest()
            sr = hashlib.sha256(b"\x01" + c + sr).digest()
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            sr = hashlib.sha256(b"\x01" + sr + c).digest()
        fn //= 2
        sn //= 2
    return fr == h1 and sr == h2 and sn == 0


# -- a store of perfect subtrees, as the log keeps them --------------------------------------------


def stored_tree(entries: list[bytes]) -> tuple[dict[merkle.NodeKey, bytes], merkle.Frontier]:
    frontier = merkle.Frontier()
    nodes: dict[merkle.NodeKey, bytes] = {}
    for i, entry in enumerate(entries):
        leaf = merkle.leaf_hash(entry)
        nodes[(0, i)] = leaf
        nodes.update(frontier.append(leaf))
    return nodes, frontier


ENTRIES = [f"entry {i}".encode() for i in range(64)]
NODES, _ = stored_tree(ENTRIES)


def generated_inclusion(index: int, size: int) -> list[bytes]:
    return merkle.build_proof(merkle.inclusion_ranges(index, size), NODES.__getitem__)


def generated_consistency(old: int, new: int) -> list[bytes]:
    return merkle.build_proof(merkle.consistency_ranges(old, new), NODES.__getitem__)


@pytest.mark.parametrize("size", range(1, 65))
def test_root_and_frontier_match_the_rfc_for_every_size(size: int) -> None:
    _, frontier = stored_tree(ENTRIES[:size])
    expected = ref_mth(ENTRIES[:size])
    assert frontier.root() == expected
    assert merkle.range_hash(0, size, NODES.__getitem__) == expected
    assert merkle.Frontier.from_bytes(size, frontier.to_bytes()).root() == expected


def test_empty_tree_root_is_hash_of_empty_string() -> None:
    assert merkle.Frontier().root() == ref_mth([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_verifies_with_the_rfc_verifier(size: int) -> None:
    root = ref_mth(ENTRIES[:size])
    for index in range(size):
        proof = generated_inclusion(index, size)
        assert proof == ref_path(index, ENTRIES[:size])
        leaf = merkle.leaf_hash(ENTRIES[index])
        assert ref_verify_inclusion(index, size, leaf, proof, root)
        merkle.verify_inclusion(leaf, index, size, proof, root)


@pytest.mark.parametrize("new", range(1, 65))
def test_every_consistency_proof_verifies_with_the_rfc_verifier(new: int) -> None:
    new_root = ref_mth(ENTRIES[:new])
    for old in range(1, new + 1):
        proof = generated_consistency(old, new)
        assert proof == ref_subproof(old, ENTRIES[:new], True)
        old_root = ref_mth(ENTRIES[:old])
        if old < new:
            assert ref_verify_consistency(old, new, old_root, new_root, proof)
        merkle.verify_consistency(old, new, old_root, new_root, proof)


def test_the_rfc_seven_leaf_examples() -> None:
    # RFC 9162 §2.1.5: leaves d0..d6 are a..f and j; g=(a,b), h=(c,d), i=(e,f), k=(g,h), l=(i,j).
    _a, b, c, d, _e, f, j = [(i, i + 1) for i in range(7)]
    g, h, i, k, l = (0, 2), (2, 4), (4, 6), (0, 4), (4, 7)  # noqa: E741 (the RFC's names)
    assert merkle.inclusion_ranges(0, 7) == [b, h, l]
    assert merkle.inclusion_ranges(3, 7) == [c, g, l]
    assert merkle.inclusion_ranges(4, 7) == [f, j, k]
    assert merkle.inclusion_ranges(6, 7) == [i, k]
    assert merkle.consistency_ranges(3, 7) == [c, d, g, l]
    assert merkle.consistency_ranges(4, 7) == [l]
    assert merkle.consistency_ranges(6, 7) == [i, j, k]


def test_proofs_need_only_logarithmically_many_stored_subtrees() -> None:
    size = 1_000_003
    for index in (0, 1, 524_287, 999_999, size - 1):
        assert len(merkle.nodes_for(merkle.inclusion_ranges(index, size))) <= 2 * size.bit_length()
    for old in (1, 3, 524_288, 999_999):
        assert len(merkle.nodes_for(merkle.consistency_ranges(old, size))) <= 2 * size.bit_length()


# -- bad inputs each rule forbids ------------------------------------------------------------------


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def test_inclusion_rejects_tampering_of_every_kind() -> None:
    size, index = 13, 5
    root = ref_mth(ENTRIES[:size])
    leaf = merkle.leaf_hash(ENTRIES[index])
    proof = generated_inclusion(index, size)
    bad_cases = [
        (leaf, index, size, [*proof[:-1], _flip(proof[-1])], root),  # altered hash
        (leaf, index, size, proof[:-1], root),  # too short
        (leaf, index, size, [*proof, proof[0]], root),  # too long
        (leaf, index + 1, size, proof, root),  # wrong index
        (leaf, index, size + 16, proof, root),  # a size whose path is longer
        (_flip(leaf), index, size, proof, root),  # another leaf
        (leaf, index, size, proof, _flip(root)),  # another root
        (leaf, size, size, proof, root),  # index outside the tree
        (leaf, index, size, [proof[0][:31], *proof[1:]], root),  # short hash
        (merkle.leaf_hash(b"x"), 0, 1, [], root),  # single leaf, wrong root
    ]
    for case in bad_cases:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*case)


def test_consistency_rejects_tampering_of_every_kind() -> None:
    old, new = 6, 13
    old_root, new_root = ref_mth(ENTRIES[:old]), ref_mth(ENTRIES[:new])
    proof = generated_consistency(old, new)
    bad_cases = [
        (old, new, old_root, new_root, [*proof[:-1], _flip(proof[-1])]),
        (old, new, old_root, new_root, proof[:-1]),
        (old, new, old_root, new_root, [*proof, proof[0]]),
        (old, new, _flip(old_root), new_root, proof),
        (old, new, old_root, _flip(new_root), proof),
        (old, new, old_root, new_root, []),
        (new, old, new_root, old_root, proof),  # sizes reversed
        (0, new, old_root, new_root, proof),  # from the empty tree: no proof exists
        (new, new, new_root, new_root, [new_root]),  # equal sizes carry an empty proof
        (new, new, old_root, new_root, []),  # equal sizes, different roots: a fork
    ]
    for case in bad_cases:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*case)


def test_a_forked_log_fails_consistency() -> None:
    forked = [*ENTRIES[:5], b"rewritten", *ENTRIES[6:20]]
    _, frontier = stored_tree(forked)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(8, 20, ref_mth(ENTRIES[:8]), frontier.root(), generated_consistency(8, 20))


def test_proof_requests_outside_the_tree_are_refused() -> None:
    for index, size in [(-1, 5), (5, 5), (0, 0)]:
        with pytest.raises(merkle.ProofError):
            merkle.inclusion_ranges(index, size)
    for old, new in [(0, 5), (6, 5), (-1, 3)]:
        with pytest.raises(merkle.ProofError):
            merkle.consistency_ranges(old, new)


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=300), st.data())
def test_random_trees_agree_with_the_reference(entries: list[bytes], data: st.DataObject) -> None:
    nodes, frontier = stored_tree(entries)
    size = len(entries)
    assert frontier.root() == ref_mth(entries)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.build_proof(merkle.inclusion_ranges(index, size), nodes.__getitem__)
    assert ref_verify_inclusion(index, size, merkle.leaf_hash(entries[index]), proof, ref_mth(entries))
    old = data.draw(st.integers(1, size))
    proof = merkle.build_proof(merkle.consistency_ranges(old, size), nodes.__getitem__)
    merkle.verify_consistency(old, size, ref_mth(entries[:old]), ref_mth(entries), proof)
