"""The events' dedupe state (ingest.dedupe): UUID keys, the day's shared id table, the
earlier days' ids. Each table test runs with the C module (ingest/_dedupe.c) and without."""

from __future__ import annotations

import multiprocessing
import uuid

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from ingest import dedupe


def test_uuid_keys_read_every_spelling_and_name_what_is_not_one(id_table):
    ids = [uuid.UUID(int=int(k) << 60 | 12345) for k in range(8)] + [
        uuid.uuid4() for _ in range(50)
    ]
    texts = [str(u) for u in ids]
    texts[3] = texts[3].upper()
    texts[4] = "{" + texts[4] + "}"
    texts[5] = texts[5].replace("-", "")
    texts[6] = "urn:uuid:" + texts[6]
    array = pa.array(["x", *texts])[1:]  # an offset, as a slice has
    hi, lo = dedupe.uuid_keys(pa.chunked_array([array[:20], array[20:]]))
    assert [(int(h) << 64) | int(low) for h, low in zip(hi, lo, strict=True)] == [
        u.int for u in ids
    ]
    for bad in ["0" * 35, "g" + "0" * 35, "0" * 8 + "+" + "0" * 27, ""]:
        with pytest.raises(ValueError, match="is not a UUID"):
            dedupe.uuid_keys(pa.array([texts[0], bad]))
    with pytest.raises(ValueError, match="null"):
        dedupe.uuid_keys(pa.array([texts[0], None]))


def _ids(seed: int, n: int) -> np.ndarray:
    """n distinct ids (high, low); a quarter share one high half (as time-ordered ids do)."""
    ids = np.random.default_rng(seed).integers(0, 2**63, (n, 2), dtype=np.uint64)
    ids[: n // 4, 0] = ids[0, 0]
    return ids


def _rows(seed: int, n: int, pool: int):
    """n rows of ids drawn from `pool` ids (many copies), random server_ts, refs unique."""
    rng = np.random.default_rng(seed + 100)
    ids = _ids(seed, pool)
    pick = rng.integers(0, pool, n)
    ts = rng.integers(0, 50, n).astype(np.int64)  # ties broken by ref
    ref = rng.permutation(n).astype(np.int64) + (7 << 32)
    return ids[pick, 0].copy(), ids[pick, 1].copy(), ts, ref


def _owners(hi, lo, ts, ref) -> set[int]:
    """The rows (refs) that own their id: the smallest (ts, ref) of each."""
    best: dict[tuple[int, int], tuple[int, int]] = {}
    for key in zip(hi.tolist(), lo.tolist(), ts.tolist(), ref.tolist(), strict=True):
        best[key[:2]] = min(best.get(key[:2], key[2:]), key[2:])
    return {r for _t, r in best.values()}


def test_the_day_table_keeps_the_first_received_copy_and_records_the_fixups(id_table, tmp_path):
    """Chunks claimed in a shuffled order, each sealed (written) some claims later, on a
    table made too small (it grows): the sealed owners less the fixups are exactly the first
    received copies, and the fixups are the sealed owners a later claim beat."""
    hi, lo, ts, ref = _rows(1, 40_000, 9_000)
    chunks = np.array_split(np.arange(len(hi)), 25)
    day = dedupe.DayIds(tmp_path, len(chunks), expected=100)
    order = np.random.default_rng(2).permutation(len(chunks))
    written, sealed_owners = [], set()
    for step, chunk in enumerate(order):
        rows = chunks[chunk]
        day.claim(int(chunk), hi[rows], lo[rows], ts[rows], ref[rows])
        if step >= 3:  # seal a chunk claimed three steps before
            done = chunks[order[step - 3]]
            owned = day.seal(int(order[step - 3]), hi[done], lo[done], ref[done])
            sealed_owners |= set(ref[done][owned].tolist())
            written.append(order[step - 3])
    for chunk in order[len(order) - 3 :]:
        done = chunks[chunk]
        sealed_owners |= set(
            ref[done][day.seal(int(chunk), hi[done], lo[done], ref[done])].tolist()
        )
    expected = _owners(hi, lo, ts, ref)
    fixups = set(np.concatenate(list(day.fixups().values())).tolist())
    assert fixups and fixups <= sealed_owners
    assert sealed_owners - fixups == expected
    kept_hi, kept_lo = day.accepted()
    assert len(kept_hi) == len(expected)
    assert len(set(zip(kept_hi.tolist(), kept_lo.tolist(), strict=True))) == len(expected)
    day.close()


def _claim_half(day, rows, hi, lo, ts, ref):
    for index, part in rows:
        day.claim(index, hi[part], lo[part], ts[part], ref[part])


def test_two_processes_share_the_table(id_table, tmp_path):
    """Two forked processes claim alternate chunks at once (the table grows under them);
    the owners are the same as one process finds."""
    hi, lo, ts, ref = _rows(3, 60_000, 20_000)
    chunks = list(enumerate(np.array_split(np.arange(len(hi)), 12)))
    day = dedupe.DayIds(tmp_path, len(chunks), expected=10)
    context = multiprocessing.get_context("fork")
    others = [
        context.Process(target=_claim_half, args=(day, chunks[k::2], hi, lo, ts, ref))
        for k in (0, 1)
    ]
    for process in others:
        process.start()
    for process in others:
        process.join()
        assert process.exitcode == 0
    owned = day.seal(0, hi, lo, ref)
    assert set(ref[owned].tolist()) == _owners(hi, lo, ts, ref)


def test_the_ids_file_round_trips_and_duckdb_reads_it_as_uuids(tmp_path):
    hi, lo = _ids(4, 5_000).T
    path = tmp_path / "ids.parquet"
    dedupe.write_ids(path, hi, lo)
    as_uuids = [
        uuid.UUID(int=(int(h) << 64) | int(lo_))
        for h, lo_ in zip(*dedupe.read_ids(path), strict=True)
    ]
    assert as_uuids == sorted(
        uuid.UUID(int=(int(h) << 64) | int(low)) for h, low in zip(hi, lo, strict=True)
    )
    theirs = duckdb.sql(f"select event_id from '{path}'").fetchall()
    assert [u for (u,) in theirs] == as_uuids
    # a file written in another order (DuckDB's, as the dedupe state once was) is sorted
    shuffled = tmp_path / "shuffled.parquet"
    duckdb.sql(f"copy (select event_id from '{path}' order by random()) to '{shuffled}'")
    assert np.array_equal(np.stack(dedupe.read_ids(shuffled)), np.stack(dedupe.read_ids(path)))


def test_earlier_days_ids_are_found_even_sharing_their_high_half(tmp_path):
    hi, lo = _ids(5, 4_000).T
    days = []
    for k, rows in enumerate(np.array_split(np.arange(len(hi)), 2)):
        days.append(str(tmp_path / f"dt={k}.parquet"))
        dedupe.write_ids(tmp_path / f"dt={k}.parquet", hi[rows], lo[rows])
    previous = dedupe.Previous(days)
    assert previous.contains(hi, lo).all()
    others = _ids(6, 1_000)
    assert previous.contains(others[:, 0], others[:, 1]).sum() == 0
    shared = hi == hi[0]
    assert shared.sum() > 100  # the ids sharing a high half are looked up one by one
    assert previous.contains(hi[shared], lo[shared] ^ np.uint64(1 << 62)).sum() == 0
