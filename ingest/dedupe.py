"""Which copy of an event is kept: the first received, decided while the chunks are read.

An event_id is kept once: not if one of the earlier arrival days accepted it (`Previous`),
and within the day only its first received copy, by (server_ts, file_id, line_no), whatever
the order in which the chunks are read (`DayIds`).

`DayIds` is a hash table of the day's ids shared by the workers (a file mapped by each, under
one lock): each chunk *claims* its ids once read (an id's owner becomes the smallest key seen
so far), and its rows are written later, once the next chunk has claimed too, keeping the
rows that still own their id (*seal*). A copy that arrives first but sits two chunks or more
after the one written is rare (files are in arrival-hour order); the rows it beats in parts
already written are recorded and taken out afterwards (`fixups`). The table is sized from an
estimate and grows (doubles, under the lock) as needed: ~64 bytes per accepted event.

Ids are UUIDs (the dedupe state keeps them as such): compared as 128-bit numbers, so case
and hyphens do not matter; `uuid_keys` names a value that is not one.
"""

from __future__ import annotations

import mmap
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest import lines

try:  # built by `make setup` (ingest/_dedupe.c); without a C compiler, the same in numpy
    from ingest import _dedupe as _C
except ImportError:  # pragma: no cover - depends on the build
    _C = None

WAIT_SECONDS = 900  # for another worker's chunk (DayIds.wait_claimed)
EMPTY = 0  # a slot's `ref` is the owner's (file_id << 32 | line_no) + 1; 0: empty
_HYPHENS = np.array([8, 13, 18, 23])
_HEX_AT = np.setdiff1d(np.arange(36), _HYPHENS)
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i


def uuid_keys(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The ids as 128-bit numbers: (high, low) uint64 arrays. Raises ValueError naming the
    first value that is not a UUID (nor null)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    ids = ids.cast(pa.string())
    n = len(ids)
    hi, lo = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    if n == 0:
        return hi, lo
    if ids.null_count:
        raise ValueError("an event_id is null")
    if _C is not None:
        data = ids.buffers()[2] or pa.py_buffer(b"")
        high, low, left = _C.uuid_keys(data, ids.buffers()[1], ids.offset, n)
        hi, lo = np.frombuffer(high, np.uint64).copy(), np.frombuffer(low, np.uint64).copy()
    else:
        left = _uuid_keys_numpy(ids, hi, lo)
    for i in left:  # other spellings (no hyphens, braces): rare
        value = ids[int(i)].as_py()
        try:
            number = uuid.UUID(value).int
        except ValueError:
            raise ValueError(f"event_id {value!r} is not a UUID") from None
        hi[i], lo[i] = number >> 64, number & ((1 << 64) - 1)
    return hi, lo


def _uuid_keys_numpy(ids: pa.StringArray, hi, lo) -> np.ndarray:
    """uuid_keys of the canonical rows into hi, lo (without the C module); the other rows."""
    text, canonical = lines.fixed_width(ids, 36)
    nibbles, hyphens = _NIBBLE[text[:, _HEX_AT]], text[:, _HYPHENS]
    good = canonical & (nibbles != 255).all(axis=1) & (hyphens == ord("-")).all(axis=1)
    pairs = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).view(">u8")
    hi[good], lo[good] = pairs[good, 0], pairs[good, 1]
    return np.flatnonzero(~good)


def refs(file_ids: np.ndarray, line_nos: np.ndarray) -> np.ndarray:
    """(file_id << 32 | line_no): ordered as (file_id, line_no), the tie-break of a key."""
    line_nos = np.asarray(line_nos, np.int64)
    if len(line_nos) and (line_nos.min() < 0 or line_nos.max() >= 1 << 32):
        raise ValueError("a line number beyond 2^32: the dedupe key cannot hold it")
    return (np.asarray(file_ids, np.int64) << 32) | line_nos


def read_ids(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A dedupe state file's ids as sorted (high, low) arrays."""
    column = pq.read_table(path, columns=["event_id"]).column(0).combine_chunks()
    if isinstance(column, pa.ExtensionArray):
        column = column.storage
    if column.type != pa.binary(16) or column.null_count:
        column = pa.array([u.bytes for u in map(uuid.UUID, column.to_pylist())], pa.binary(16))
    pairs = np.frombuffer(column.buffers()[1], ">u8")[2 * column.offset :][: 2 * len(column)]
    hi, lo = pairs[0::2].astype(np.uint64), pairs[1::2].astype(np.uint64)
    if len(hi) > 1 and not _is_sorted(hi, lo):
        order = _order(hi, lo)
        hi, lo = hi[order], lo[order]
    return hi, lo


def write_ids(path: Path, hi: np.ndarray, lo: np.ndarray) -> None:
    """Ids, sorted, as a Parquet file of one UUID column (what read_ids and DuckDB read)."""
    order = _order(hi, lo)
    pairs = np.empty((len(order), 2), ">u8")
    pairs[:, 0], pairs[:, 1] = hi[order], lo[order]
    storage = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(order), [None, pa.py_buffer(pairs.tobytes())]
    )
    column = pa.ExtensionArray.from_storage(pa.uuid(), storage)
    # distinct random values: neither a dictionary nor compression would make it smaller
    pq.write_table(pa.table({"event_id": column}), path, compression="none", use_dictionary=False)


def _order(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """The permutation that sorts ids by (high, low): by the high half, then ties mended."""
    order = np.argsort(hi, kind="stable")  # fast on runs already sorted (accepted)
    sorted_hi = hi[order]
    tied = np.flatnonzero(sorted_hi[1:] == sorted_hi[:-1])
    if len(tied):  # rare for random ids: re-sort the runs that share their high half
        starts = np.unique(np.concatenate([tied, tied + 1]))
        runs = np.split(starts, np.flatnonzero(np.diff(starts) != 1) + 1)
        for run in runs:
            order[run] = order[run][np.argsort(lo[order[run]], kind="stable")]
    return order


def _first_copies(hi, lo, ts, ref) -> tuple:
    """Each id once, with its smallest key (ts, ref), the ids sorted."""
    order = _order(hi, lo)
    hi, lo, ts, ref = hi[order], lo[order], ts[order], ref[order]
    same = (hi[1:] == hi[:-1]) & (lo[1:] == lo[:-1])
    if not same.any():
        return hi, lo, ts, ref
    # copies of one id are adjacent: sort each run of them by key, keep its first
    order = np.lexsort((ref, ts, np.cumsum(np.concatenate([[True], ~same]))))
    hi, lo, ts, ref = hi[order], lo[order], ts[order], ref[order]
    first = np.concatenate([[True], ~same])
    return hi[first], lo[first], ts[first], ref[first]


def _is_sorted(hi: np.ndarray, lo: np.ndarray) -> bool:
    step = np.diff(hi.view(np.int64) ^ np.int64(-(1 << 63)))  # as signed, order kept
    return bool((step >= 0).all() and (lo[1:][step == 0] >= lo[:-1][step == 0]).all())


class Previous:
    """The ids the earlier days accepted (their state files), to look ids up in."""

    def __init__(self, paths: list[str]) -> None:
        self.days = [read_ids(p) for p in paths]

    def contains(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hi), bool)
        for day_hi, day_lo in self.days:
            left = np.searchsorted(day_hi, hi, "left")
            right = np.searchsorted(day_hi, hi, "right")
            one = np.flatnonzero(right - left == 1)
            found[one] |= day_lo[left[one]] == lo[one]
            for i in np.flatnonzero(right - left > 1):  # ids sharing their high half
                found[i] |= bool((day_lo[left[i] : right[i]] == lo[i]).any())
        return found


def _slots(hi: np.ndarray, lo: np.ndarray, bits: int) -> np.ndarray:
    mixed = (hi ^ (lo * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)
    return (mixed >> np.uint64(64 - bits)).astype(np.int64)


class DayIds:
    """The day's accepted ids and their owners, shared by the workers (create it before they
    fork). Chunks are numbered 0..chunks-1."""

    def __init__(self, directory: Path, chunks: int, expected: int):
        self.context = context = lines.pool_context()  # the workers' (they inherit the lock)
        self.directory, self.chunks = Path(directory), chunks
        self._lock = context.Condition()
        self._claimed = context.RawArray("b", chunks)
        self._meta = context.RawArray("q", 3)  # generation, log2 of the slots, entries
        self._beaten = self.directory / "beaten.bin"
        self._sealed_runs: dict[int, np.ndarray] = {}  # the parent's (see collect)
        self._fixups: dict[int, np.ndarray] | None = None
        self._map: tuple[int, mmap.mmap, tuple] | None = None
        bits = max(16, int(np.ceil(np.log2(max(1, expected) * 2))))
        self._create(0, bits)

    # -- the table file: 2^bits slots of (high, low, server_ts, ref + 1), 8 bytes each ---------

    def _path(self, generation: int) -> Path:
        return self.directory / f"ids-{generation}.bin"

    def _create(self, generation: int, bits: int) -> None:
        with open(self._path(generation), "wb") as handle:
            handle.truncate(32 << bits)
        self._meta[0], self._meta[1] = generation, bits

    def _table(self) -> tuple:
        """(high, low, ts, ref) views of the current table's columns (remapped if another
        process grew it); call under the lock. The mapping itself is self._map[1]."""
        generation = self._meta[0]
        if self._map is None or self._map[0] != generation:
            self._map = None  # the old views go with it
            with open(self._path(generation), "r+b") as handle:
                mapped = mmap.mmap(handle.fileno(), 0)
            slots = np.frombuffer(mapped, np.uint64).reshape(-1, 4)  # a slot: 32 bytes
            views = (
                slots[:, 0],
                slots[:, 1],
                slots[:, 2].view(np.int64),
                slots[:, 3].view(np.int64),
            )
            self._map = (generation, mapped, views)
        return self._map[2]

    def _find(self, hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(slot, found) of each id: its slot, else the first empty slot of its probe."""
        t_hi, t_lo, _ts, t_ref = self._table()
        bits = int(self._meta[1])
        mask = (1 << bits) - 1
        slot = _slots(hi, lo, bits)
        found = np.zeros(len(hi), bool)
        pending = np.arange(len(hi))
        while len(pending):
            at = slot[pending]
            empty = t_ref[at] == EMPTY
            match = ~empty & (t_hi[at] == hi[pending]) & (t_lo[at] == lo[pending])
            found[pending[match]] = True
            pending = pending[~empty & ~match]
            slot[pending] = (slot[pending] + 1) & mask
        return slot, found

    def _insert(self, hi, lo, ts, ref) -> None:
        """Add ids not in the table (distinct)."""
        t_hi, t_lo, t_ts, t_ref = self._table()
        while len(hi):
            slot, found = self._find(hi, lo)
            assert not found.any()
            # two ids may land on the same empty slot: the first takes it, the others probe again
            taken, first = np.unique(slot, return_index=True)
            t_hi[taken], t_lo[taken], t_ts[taken], t_ref[taken] = (
                hi[first],
                lo[first],
                ts[first],
                ref[first] + 1,
            )
            self._meta[2] += len(first)
            rest = np.setdiff1d(np.arange(len(hi)), first, assume_unique=True)
            hi, lo, ts, ref = hi[rest], lo[rest], ts[rest], ref[rest]

    def _grow(self, entries: int) -> None:
        """A table with room for `entries` at most half full (under the lock)."""
        bits = int(self._meta[1])
        if 2 * entries <= 1 << bits:
            return
        t_hi, t_lo, t_ts, t_ref = self._table()
        used = np.flatnonzero(t_ref != EMPTY)
        kept = t_hi[used], t_lo[used], t_ts[used], t_ref[used] - 1
        old = self._path(int(self._meta[0]))
        while 2 * entries > 1 << bits:
            bits += 1
        self._map = None
        self._meta[2] = 0
        self._create(int(self._meta[0]) + 1, bits)
        old.unlink()
        if _C is not None:
            self._table()
            self._meta[2] = _C.claim(self._map[1], bits, *kept)[0]
        else:
            self._insert(*kept)

    # -- what the chunks do ---------------------------------------------------------------------

    def claim(self, chunk: int, hi, lo, ts, ref) -> None:
        """Chunk `chunk`'s ids, keys (ts, ref) and all: each id's owner becomes the smallest
        key seen so far. An owner beaten in a part already written is a fixup."""
        hi, lo = np.ascontiguousarray(hi, np.uint64), np.ascontiguousarray(lo, np.uint64)
        ts, ref = np.ascontiguousarray(ts, np.int64), np.ascontiguousarray(ref, np.int64)
        if _C is None:
            hi, lo, ts, ref = _first_copies(hi, lo, ts, ref)
        with self._lock:
            self._grow(int(self._meta[2]) + len(hi))
            table = self._table()
            if _C is not None:
                added, beaten = _C.claim(self._map[1], int(self._meta[1]), hi, lo, ts, ref)
                self._meta[2] += added
                beaten = np.frombuffer(beaten, np.int64)
            else:
                beaten = self._claim_numpy(table, hi, lo, ts, ref)
            if len(beaten):  # fixups() finds those written (sealed) before
                with open(self._beaten, "ab") as handle:
                    handle.write(beaten.astype(np.int64).tobytes())
            self._claimed[chunk] = 1
            self._lock.notify_all()

    def _claim_numpy(self, table, hi, lo, ts, ref) -> np.ndarray:
        """claim without the C module (ids distinct): the refs beaten."""
        _hi, _lo, t_ts, t_ref = table
        slot, found = self._find(hi, lo)
        at, mine = slot[found], np.flatnonzero(found)
        better = (ts[mine] < t_ts[at]) | ((ts[mine] == t_ts[at]) & (ref[mine] < t_ref[at] - 1))
        at, mine = at[better], mine[better]
        beaten = t_ref[at] - 1
        t_ts[at], t_ref[at] = ts[mine], ref[mine] + 1
        new = ~found
        self._insert(hi[new], lo[new], ts[new], ref[new])
        return beaten

    def wait_claimed(self, last: int) -> None:
        """Until chunks 0..last have claimed their ids (a chunk takes seconds: after
        WAIT_SECONDS, a worker must have died, and this one says so rather than hang)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.claimed(last), timeout=WAIT_SECONDS):
                missing = np.flatnonzero(np.frombuffer(self._claimed, np.int8)[: last + 1] == 0)
                raise RuntimeError(f"chunks {missing.tolist()} never claimed their ids")

    def claimed(self, last: int) -> bool:
        """Whether chunks 0..last have claimed their ids."""
        return bool(np.frombuffer(self._claimed, np.int8)[: last + 1].all())

    def seal(self, chunk: int, hi, lo, ref) -> np.ndarray:
        """Which of the rows (ids with their refs) own their id now, as chunk `chunk` is
        written; its owners are saved as a sorted run (for accepted, and for fixups: an owner
        beaten from now on was written)."""
        with self._lock:
            t_hi, t_lo, _ts, t_ref = self._table()
            if _C is not None:
                hi, lo = np.ascontiguousarray(hi, np.uint64), np.ascontiguousarray(lo, np.uint64)
                ref = np.ascontiguousarray(ref, np.int64)
                flags = _C.seal(self._map[1], int(self._meta[1]), hi, lo, ref)
                owned = np.frombuffer(flags, np.bool_)
            else:
                slot, found = self._find(hi, lo)
                owned = found & (t_ref[slot] == ref + 1)
        # the owners, sorted: runs the parent merges into the day's sorted ids (accepted)
        hi, lo, ref = hi[owned], lo[owned], ref[owned]
        order = _order(hi, lo)
        run = np.stack([hi[order], lo[order], ref[order].astype(np.uint64)], axis=1)
        np.save(self.directory / f"owned-{chunk:05d}.npy", run)
        return owned

    # -- for the parent, once every chunk is written ----------------------------------------------

    def collect(self, chunk: int) -> None:
        """Read a sealed chunk's owners now (the parent, while the workers go on)."""
        self._sealed_runs[chunk] = np.load(self.directory / f"owned-{chunk:05d}.npy")

    def _runs(self) -> dict[int, np.ndarray]:
        """Each sealed chunk's owners: (high, low, ref) rows, sorted."""
        for path in self.directory.glob("owned-*.npy"):
            chunk = int(path.stem.split("-")[1])
            if chunk not in self._sealed_runs:
                self._sealed_runs[chunk] = np.load(path)
        return self._sealed_runs

    def fixups(self) -> dict[int, np.ndarray]:
        """The rows written (sealed as owners) that a copy received earlier beat afterwards:
        their refs, by chunk. (A row beaten before its chunk was sealed is no owner then.)
        For the parent, once every chunk is sealed (computed once)."""
        if self._fixups is None:
            self._fixups = self._find_fixups()
        return self._fixups

    def _find_fixups(self) -> dict[int, np.ndarray]:
        if not self._beaten.exists():
            return {}
        beaten = np.unique(np.fromfile(self._beaten, np.int64))
        found = {}
        for chunk, run in self._runs().items():
            refs = run[:, 2].view(np.int64)
            at = np.minimum(np.searchsorted(beaten, refs), len(beaten) - 1)
            hit = refs[beaten[at] == refs]
            if len(hit):
                found[chunk] = hit
        return found

    def accepted(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids (high, low) of the rows the day keeps: the sealed owners (their runs,
        merged) less the fixups; as many as the table holds."""
        runs = self._runs()
        fixups = self.fixups()
        keys = [
            run[~np.isin(run[:, 2].view(np.int64), fixups[chunk])] if chunk in fixups else run
            for chunk, run in sorted(runs.items())
        ]
        keys = np.concatenate(keys) if keys else np.zeros((0, 3), np.uint64)
        if len(keys) != self._meta[2]:
            raise RuntimeError(
                f"{len(keys)} rows own their id, but the day has {self._meta[2]} ids"
            )
        return keys[:, 0].copy(), keys[:, 1].copy()

    def close(self) -> None:
        """Let go of the table (its files are the caller's to remove, with the directory)."""
        self._map = None
        self._sealed_runs = {}
