"""People who can affect one another in a replay, found before it runs, so that a long
simulation can be split across worker processes by person.

Every decision of the engine is about one person: a journey is one person's (Customer.io:
a campaign's journeys are per person, and so are its message limits, segment memberships,
date triggers and broadcast entries), and a delivery reads only its person and journey.
Operations reach across people only through identity: an anonymous id later joined to a
user, a merge, an email that moves, a suppression by email, an event id that dedupes a
retry. `IdentityGroups` joins every identifier an operation names (a union-find), so two
operations land in different groups only when no chain of shared identifiers links them,
and a replay of each group on its own decides exactly what the whole replay decides.
"""

from __future__ import annotations

from app.core.operations import Operation


def identity_keys(op: Operation) -> list[tuple[str, str]]:
    """Every identifier an operation names, with its kind: `u` user id, `e` email
    (lowercased, as ingest matches them), `a` anonymous id, `k` dedupe key. For an
    identify, the email it sets counts too (it may take the address from someone)."""
    keys: list[tuple[str, str]] = []
    for who in (op.who, op.secondary):
        if who is None:
            continue
        if who.user_id is not None:
            keys.append(("u", who.user_id))
        if who.email is not None:
            keys.append(("e", who.email.lower()))
    if op.anonymous_id is not None:
        keys.append(("a", op.anonymous_id))
    if op.dedupe_key is not None:
        keys.append(("k", op.dedupe_key))
    email = op.properties.get("email") if op.kind == "identify" else None
    if isinstance(email, str) and email.strip():
        keys.append(("e", email.strip().lower()))
    return keys


class IdentityGroups:
    """A union-find over identifiers: `add` gives an operation's group node, `root` the
    group it ended up in once every operation was added (a later operation can join two
    groups)."""

    def __init__(self) -> None:
        # One map per kind of identifier (no prefixed copies of a million event ids).
        self._nodes: dict[str, dict[str, int]] = {kind: {} for kind in "ueak"}
        self._parent: list[int] = []

    def add(self, op: Operation) -> int:
        """Join the operation's identifiers into one group; return its node (-1 when it
        names none, which ingest rejects anyway)."""
        node = -1
        for kind, key in identity_keys(op):
            known = self._nodes[kind]
            found = known.get(key)
            if found is not None:
                node = found if node < 0 else self._union(node, found)
            elif node >= 0:
                known[key] = node  # a new identifier joins this operation's group
            else:
                node = known[key] = len(self._parent)
                self._parent.append(node)
        return node

    def root(self, node: int) -> int:
        """The group a node belongs to now (-1 stays -1)."""
        if node < 0:
            return node
        parent = self._parent
        top = node
        while parent[top] != top:
            top = parent[top]
        while parent[node] != top:  # path compression
            parent[node], node = top, parent[node]
        return top

    def _union(self, a: int, b: int) -> int:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            # The older node stays the root: a group's root is its first identifier.
            ra, rb = min(ra, rb), max(ra, rb)
            self._parent[rb] = ra
        return ra


def split(roots: list[int], parts: int) -> list[int]:
    """A part (0 <= part < parts) for each operation's group root, so that parts get
    about the same number of operations and no group is split: the largest groups first
    (ties by root), each to the part with the fewest operations so far; -1 (no group)
    goes to part 0. Deterministic: the same roots give the same parts."""
    sizes: dict[int, int] = {}
    for root in roots:
        sizes[root] = sizes.get(root, 0) + 1
    loads = [0] * parts
    part_of: dict[int, int] = {}
    for root, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        best = 0 if root < 0 else min(range(parts), key=lambda p: (loads[p], p))
        part_of[root] = best
        loads[best] += size
    return [part_of[root] for root in roots]
