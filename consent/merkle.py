"""RFC 9162 §2.1 Merkle Tree Hash, inclusion and consistency proofs (the RFC 6962 hashing).

MTH({}) = SHA-256(""), a leaf is SHA-256(0x00 || d), a node SHA-256(0x01 || left || right), and a
tree of n > 1 leaves splits at k, the largest power of two smaller than n.

Proof generation here never touches leaves directly: it names the subtree *ranges* [a, b) whose
hashes it needs (`inclusion_ranges`, `consistency_ranges`). Every such range is a union of at most
log2(n) aligned perfect subtrees (`perfect_subtrees`), which a store keeps once they are complete, so
a proof costs O(log n) reads however large the log grows. Verification follows §2.1.3.2 and §2.1.4.2
literally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

# (level, index): the perfect subtree of 2**level leaves starting at leaf index * 2**level.
NodeKey = tuple[int, int]


class ProofError(ValueError):
    """A proof request or a proof is malformed, or a proof does not verify."""


def leaf_hash(entry: bytes) -> bytes:
    """The hash of a leaf whose data is `entry`."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already hashed leaves, by the recursive definition (for reference and tests)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = split_point(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """The aligned perfect subtrees covering [start, end), largest first (a greedy decomposition).

    Every range the proof algorithms name is a subtree of RFC 9162's recursive split: perfect, or a
    right edge whose sizes are the binary digits of its length, largest first."""
    if not 0 <= start < end:
        raise ProofError(f"empty or negative range [{start}, {end})")
    keys: list[NodeKey] = []
    position = start
    while position < end:
        # The largest aligned block starting at `position` that fits before `end`.
        level = (position & -position).bit_length() - 1 if position else 63
        while (1 << level) > end - position:
            level -= 1
        keys.append((level, position >> level))
        position += 1 << level
    return keys


def range_hash(start: int, end: int, node: Callable[[NodeKey], bytes]) -> bytes:
    """MTH(D[start:end]) for a range the proof algorithms name, from its perfect subtrees.

    The subtrees of a right edge combine right to left, which is exactly how the recursive split
    at powers of two nests them."""
    keys = perfect_subtrees(start, end)
    result = node(keys[-1])
    for key in reversed(keys[:-1]):
        result = node_hash(node(key), result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[0:size]), in proof order (bottom up)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1)."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    ranges: list[tuple[int, int]] = []

    def subproof(m: int, start: int, end: int, complete: bool) -> None:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            return
        k = split_point(n)
        if m <= k:
            subproof(m, start, start + k, complete)
            ranges.append((start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            ranges.append((start, start + k))

    if old_size < new_size:
        subproof(old_size, 0, new_size, True)
    return ranges


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    """Every perfect subtree the given ranges need: what a store must read for a proof."""
    return {key for start, end in ranges for key in perfect_subtrees(start, end)}


def build_proof(ranges: Sequence[tuple[int, int]], node: Callable[[NodeKey], bytes]) -> list[bytes]:
    """The proof hashes for `ranges`, given stored perfect subtree hashes."""
    return [range_hash(start, end, node) for start, end in ranges]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2; raises `ProofError` unless `leaf` (a leaf hash) is at `index` under `root`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("a proof hash is not 32 bytes")
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2; raises `ProofError` unless the tree of `old_size` is a prefix of `new_size`."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("a proof hash is not 32 bytes")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes with different roots: the log forked")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    # Step 2: if first is an exact power of two, prepend first_hash to the proof.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root")


class Frontier:
    """The right edge of a growing tree: one perfect subtree hash per set bit of its size.

    Appending a leaf merges equal-sized subtrees like a binary counter; every merge completes a
    perfect subtree, which `append` returns so a store can keep it. The root folds the frontier
    right to left. Serialised, it is what a log head stores to append without reading the tree."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError("a frontier has one hash per set bit of the tree size")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Parse the concatenated hashes stored for a tree of `size` leaves."""
        if len(data) != HASH_SIZE * size.bit_count():
            raise ValueError("stored frontier does not match the tree size")
        return cls(size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    def to_bytes(self) -> bytes:
        """The hashes, largest subtree first, concatenated."""
        return b"".join(self.hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add a leaf hash; returns the interior nodes (level >= 1) it completed."""
        completed: list[tuple[NodeKey, bytes]] = []
        index = self.size
        current = leaf
        level = 0
        while index & 1:
            current = node_hash(self.hashes.pop(), current)
            level += 1
            index >>= 1
            completed.append(((level, index), current))
        self.hashes.append(current)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the tree so far."""
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            result = node_hash(h, result)
        return result
