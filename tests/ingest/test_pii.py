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
    cut = pii.truncate_ips(pa.array(values)).to_pylist()
    assert cut == [pii.truncate_ip(v) for v in values]
    for value, network in zip(values[:2000], cut, strict=False):
        expected = ipaddress.IPv6Network(f"{value}/48", strict=False).network_address
        assert network == str(expected)
