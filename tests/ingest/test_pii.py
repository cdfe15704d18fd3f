"""ingest.pii: IP addresses cut to their network (PIPL)."""

from __future__ import annotations

import ipaddress
import random

import pyarrow as pa

from ingest import pii


def test_ipv4_keeps_its_slash_24_and_ipv6_its_slash_48():
    assert pii.truncate_ip("203.0.113.77") == "203.0.113.0"
    assert pii.truncate_ip("2408:8456:36de:ed6::960") == "2408:8456:36de::"
    assert pii.truncate_ip("2001:db8::1") == "2001:db8::"
    assert pii.truncate_ip("[2001:db8:aa:bb::1]:443") == "2001:db8:aa::"
    assert pii.truncate_ip("unknown") == "unknown" and pii.truncate_ip(None) is None


def test_the_vectorised_cut_agrees_with_the_ipaddress_module():
    rng = random.Random(7)
    values = [
        ":".join(rng.choice(["0", "00", "1", "abc", "FFFF", "0db8"]) for _ in range(8))
        for _ in range(2000)
    ]
    values += [
        f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.9" for _ in range(50)
    ]
    values += ["::1", "::ffff:1.2.3.4", "2001:db8::1", None, "", "not an address"]
    # IPv4 in and around other text (the cut has a shortcut for a bare address)
    values += ["999.1.1.1", "1.2.3.4, 5.6.7.8", "1.2.3.4:80", " 1.2.3.4", "1.2.3.4.5", "1.2.3"]
    cut = pii.truncate_ips(pa.array(values)).to_pylist()
    assert cut == [pii.truncate_ip(v) for v in values]
    for value, network in zip(values[:2000], cut, strict=False):
        expected = ipaddress.IPv6Network(f"{value}/48", strict=False).network_address
        assert network == str(expected)


def test_addresses_in_free_text_are_cut_and_versions_are_not():
    assert pii.mask_ips("Rate limit exceeded ip=185.191.171.224 limit=20/s") == (
        "Rate limit exceeded ip=185.191.171.0 limit=20/s"
    )
    assert pii.mask_ips('"10.0.0.1, 2408:8456:36de:ed6::960" rt=0.2') == (
        '"10.0.0.0, 2408:8456:36de::" rt=0.2'
    )
    assert pii.mask_ips("x [2001:db8:aa:bb::1]:443 y") == "x [2001:db8:aa::]:443 y"
    untouched = "Chrome/126.0.6478.126 Core/1.116.438.400 v1.2.3.4.5 std::map 12:30:45 a:b:c"
    assert pii.mask_ips(untouched) == untouched
    # an nginx line cut off inside its client address keeps at most three groups
    assert pii.mask_ips("2409:8a28:7895:5daa:ca1", leading_address=True) == "2409:8a28:7895::"
    assert pii.mask_ips("2409:8a28:78", leading_address=True) == "2409:8a28:78"
    assert pii.scrub("from 203.0.113.77 call 13812345678").startswith("from 203.0.113.0 call hmac:")


def test_every_text_the_scrubber_changes_passes_the_sql_prefilter():
    """The RE2 prefilter decides which values reach `scrub` at all (ingest.logs._scrubbed,
    pii.sql_scrubbed): it must flag every value that scrub would change."""
    import pyarrow.compute as pc

    rng = random.Random(3)
    texts = [
        "ip=185.191.171.224",
        "a 2001:db8::1 b",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:1.2.3.4",
        '{"contact_phone":"13812345678"}',
        "上海浦东新区人民路12号",
        "no address here 12:30:45",
    ]
    texts += [
        " ".join(
            rng.choice(["x", "1.2.3.4", "::1", "fe80::1", "ab:cd", "10.1.1", "q=1"])
            for _ in range(3)
        )
        for _ in range(500)
    ]
    flagged = pc.match_substring_regex(pa.array(texts), pii.SQL_PREFILTER).to_pylist()
    for text, flag in zip(texts, flagged, strict=True):
        if pii.scrub(text) != text:
            assert flag, text
    # the raw text of a quarantined nginx line starts with a client address, maybe cut off
    heads = ["2408:8456:36de:ed6", "2408:8456:36de:ed6:1:2", "2408:8456:36de:ed6 - -", "ab:cd:ef"]
    texts += heads + [f"{h} {t}" for h in heads for t in texts[:20]]
    flagged = pc.match_substring_regex(pa.array(texts), pii.PREFILTER_LEADING_ADDRESS).to_pylist()
    changed = 0
    for text, flag in zip(texts, flagged, strict=True):
        if pii.scrub(text, leading_address=True) != text:
            changed += 1
            assert flag, text
    assert changed > len(heads)


def test_the_column_scrubber_writes_what_scrub_writes_text_for_text():
    """pii.scrub_array runs each of scrub's steps only where an RE2 hint says it could match:
    the result must be scrub's, text for text, whatever the text holds."""
    rng = random.Random(5)
    pieces = [
        '{"contact_phone":"13812345678"}',
        '{"phone": 13912345678}',
        '"phone"\u00a0:\u00a0"13812345678"',
        '"mobile"\u00a0:\u00a0"138-1234-5678"',
        '"id_card":"110101199003074518"',
        "身份证 11010119900307451X 号",
        "+86 13812345678",
        "8613812345678",
        "1793462487591",
        "上海浦东新区人民路12号3室",
        "广州天河区中山路1号",
        "ip=203.0.113.77",
        "999.1.2.3",
        "1.2.3.4.5",
        "Chrome/126.0.6478.126",
        "2408:8456:36de:ed6::960",
        "fe80::1%eth0",
        '"address":"北京朝阳区建国路88号"',
        "x",
        " ",
        ",",
        '"',
    ]
    values = [None, "", "2408:8456:36de:ed6:1:2 rest", "2408:8456:36de"]
    values += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(600)]
    for leading in (False, True):
        expected = [pii.scrub(v, leading) for v in values]
        assert pii.scrub_array(pa.array(values), leading).to_pylist() == expected
        # mostly texts no hint matches: the steps see the flagged ones only
        plain = [*values, *(f"plain text {k}" for k in range(2 * len(values)))]
        expected_plain = [pii.scrub(v, leading) for v in plain]
        assert pii.scrub_array(pa.array(plain), leading).to_pylist() == expected_plain
    assert sum(v != e for v, e in zip(values, expected, strict=True)) > 300
