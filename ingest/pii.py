"""Personal data in logs and events: decided here once, for every stream.

The rule (DESIGN.md, "Configuration and secrets"; issue 3): phone numbers, ID-card numbers and
street addresses never reach the lake's Parquet or quarantine files in clear text.

- Phone numbers (mainland mobiles, with or without +86) and ID-card numbers (18 characters) are
  replaced by `hmac:<32 hex>`: HMAC-SHA256 keyed with the salt, over `<kind>:<digits>`, cut to
  128 bits. The same number gives the same token on every day and in every stream, so the
  warehouse can still count and join on it; without the salt the token cannot be reversed by
  trying all 10^11 numbers.
- Street addresses are generalised to their district (`上海浦东新区人民路12号...` ->
  `上海浦东新区`): the district is what reporting needs, and a hash of free text joins nothing.
- Where: values of known PII keys in JSON (`contact_phone`, `address`, ... even when a line is
  cut off inside the value), and any phone, ID-card number or street address in any other text
  (query strings, referers, log messages, stack traces, the raw text kept in quarantine).

- IP addresses (personal information under China's PIPL) are truncated where they land in
  Parquet: IPv4 to its /24 (`203.0.113.77` -> `203.0.113.0`), IPv6 to its /48
  (`2408:8456:36de:ed6::960` -> `2408:8456:36de::`, the compressed form of the network
  address). That still tells the city and the carrier, which is all traffic reporting needs.
  Applied to the address columns (nginx `remote_addr`, events `ip`): any dotted quad in the
  value is cut, an IPv6 value (with or without brackets and port) is replaced by its /48;
  text that holds no address stays as written. Every other text that lands gets the same cut
  through `scrub` (`mask_ips`): an address inside a query string, a referer, nginx's unknown
  trailing fields (`extra`, often an X-Forwarded-For), an application log message
  (`ip=...`), an event's props, and the raw text and message of every quarantined line. In
  free text an IPv4 address is a dotted quad of octets 0-255 not inside a longer dotted
  number (`Chrome/126.0.6478.126` is a version, left alone), an IPv6 address one that
  `ipaddress` accepts; an nginx line cut off inside its client address (quarantine) keeps
  at most its first three IPv6 groups.

The salt is `$SHIFU_PII_SALT` (at least 16 characters). When it is unset, as in the embedded demo,
a random salt is generated once per lake and kept in `lake/_state/pii_salt` (mode 0600), so the
demo runs with no configuration and tokens stay stable across its runs; a real deployment sets
the variable from its secret store. No salt is ever in the repository, a log line or a manifest.

`data/lake/raw-files/` is the one place personal data remains: the unchanged source files kept
for replay, with owner-only permissions, read by no model, and deleted after
`$SHIFU_RAW_FILES_DAYS` days (ingest.lines.prune_raw_files; ingest/README.md says who can read
them and why).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import sys
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SALT_ENV = "SHIFU_PII_SALT"
MIN_SALT_LENGTH = 16
TOKEN_PREFIX = "hmac:"

# JSON keys whose value is personal data whatever it looks like.
PHONE_KEYS = ("contact_phone", "phone", "mobile", "tel", "customer_phone")
ID_CARD_KEYS = ("id_card", "id_card_no", "id_no", "idcard")
ADDRESS_KEYS = ("address", "addr", "street_address", "service_address")

_PHONE = r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])"
_ID_CARD = (
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
# A street address: Chinese place text, a road, a house number (号), and what follows up to a
# delimiter. Generalised to the text before the road's district suffix.
_ADDRESS = r"[\u4e00-\u9fff]{2,}(?:路|街|道|巷|弄|大道)[0-9]+号[^\s\"',;&}]*"
_DISTRICT = (re.compile(r"^.*?(?:区|县|旗)"), re.compile(r"^.*?市"))

PHONE_RE = re.compile(_PHONE)
ID_CARD_RE = re.compile(_ID_CARD)
ADDRESS_RE = re.compile(_ADDRESS)
_KEY_NAMES = "|".join(PHONE_KEYS + ID_CARD_KEYS + ADDRESS_KEYS)
# "key": "value  (the closing quote may be missing in a truncated line)
_JSON_VALUE_RE = re.compile(rf'"({_KEY_NAMES})"(\s*:\s*)"((?:[^"\\]|\\.)*)("?)')
_JSON_NUMBER_RE = re.compile(rf'"({"|".join(PHONE_KEYS + ID_CARD_KEYS)})"(\s*:\s*)([0-9]+)')

# A cheap RE2 (DuckDB) prefilter: every text that `scrub` could change matches it, most clean
# texts do not, so the Python scrubber runs on a few rows only.
SQL_PREFILTER = (
    r"1[3-9][0-9]{9}|[0-9]{17}[0-9Xx]|[0-9]号|\"(" + _KEY_NAMES + r")\""
    # IP addresses (mask_ips): a dotted quad, a compressed or a full IPv6 address
    r"|[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|::|[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}"
)

# A text that starts with a client address, maybe cut off (mask_ips's leading_address; no
# blank after it required: Python's blanks are wider than RE2's)
_LEADING_HINT = r"^[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,}"
# The prefilter for such a text.
PREFILTER_LEADING_ADDRESS = SQL_PREFILTER + "|" + _LEADING_HINT

_IPV4 = r"\b([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}\b"
_IPV6_IN_TEXT = re.compile(r"^\[?([0-9A-Fa-f:.]+(?:%[0-9A-Za-z]+)?)\]?(?::[0-9]+)?$")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# In free text: a dotted quad not part of a longer dotted number (a version string).
_IPV4_FREE = re.compile(
    r"(?<![0-9.])([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.([0-9]{1,3})(?![0-9]|\.[0-9])"
)
_IPV4_OCTETS = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
# In free text: a run of hex digits, colons and dots with at least two colons, not inside a
# word (`std::map`) or a longer run; `ipaddress` decides whether it is an address.
_IPV6_FREE = re.compile(
    r"(?<![0-9A-Za-z:.])[0-9A-Fa-f.]*+:[0-9A-Fa-f.]*+:[0-9A-Fa-f:.]*+(?![0-9A-Za-z:])"
)
# Every IPv6 address has `::` or a group between two colons: a text with neither (most JSON)
# skips the search above.
_IPV6_HINT = re.compile(r"::|:[0-9A-Fa-f]{1,4}:")
_LEADING_V6 = re.compile(r"^[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,}(?=\s|$)")


class SaltError(RuntimeError):
    """The PII salt is unusable (too short)."""


@lru_cache(maxsize=4)
def _salt_for(env_value: str | None, state_file: str) -> bytes:
    if env_value:
        if len(env_value) < MIN_SALT_LENGTH:
            raise SaltError(
                f"{SALT_ENV} must be at least {MIN_SALT_LENGTH} characters "
                "(e.g. `openssl rand -hex 32`)"
            )
        return env_value.encode()
    path = os.fspath(state_file)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        print(
            f"ingest: {SALT_ENV} is not set; generated a salt for this lake in {path} "
            "(set the variable in production)",
            file=sys.stderr,
        )
    with open(path) as handle:
        return handle.read().strip().encode()


def salt() -> bytes:
    """The HMAC key: $SHIFU_PII_SALT, else this lake's generated salt."""
    from ingest import lake

    configured = os.environ.get(SALT_ENV)
    if configured:  # called once per token: no path to build then
        return _salt_for(configured, "")
    return _salt_for(configured, str(lake.lake_dir() / "_state" / "pii_salt"))


def token(kind: str, value: str) -> str:
    """`hmac:<32 hex>` for a phone or ID-card number (normalised: digits and X only)."""
    digits = re.sub(r"[^0-9Xx]", "", value).upper()
    if kind == "phone" and len(digits) > 11:
        digits = digits[-11:]  # +86 / 86 prefix
    mac = hmac.new(salt(), f"{kind}:{digits}".encode(), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + mac[:32]


def generalise_address(address: str) -> str:
    """The district part of an address (`上海浦东新区人民路1号` -> `上海浦东新区`), else ``."""
    for pattern in _DISTRICT:
        match = pattern.match(address)
        if match and len(match.group(0)) < len(address):
            return match.group(0)
    return ""


def _json_value(match: re.Match) -> str:
    key, colon, value, close = match.groups()
    if key in ADDRESS_KEYS:
        clean = generalise_address(value)
    elif value.startswith(TOKEN_PREFIX):
        clean = value
    else:
        clean = token("phone" if key in PHONE_KEYS else "id_card", value)
    return f'"{key}"{colon}"{clean}{close}'


def scrub(text: str | None, leading_address: bool = False) -> str | None:
    """`text` with every phone, ID-card number, street address and IP address protected (see
    above; `leading_address`: see mask_ips)."""
    if not text:
        return text
    for step in _STEPS:
        text = step(text, leading_address)
    return text


def _json_numbers(text: str, _leading: bool) -> str:
    return _JSON_NUMBER_RE.sub(
        lambda m: (
            f'"{m.group(1)}"{m.group(2)}"'
            f'{token("phone" if m.group(1) in PHONE_KEYS else "id_card", m.group(3))}"'
        ),
        text,
    )


# scrub's steps, in order; and for each, an RE2 pattern that matches wherever the step's own
# pattern could (its lookarounds as a character or an anchor): a text it does not match is
# left unchanged by the step (scrub_array)
_STEPS = (
    lambda text, _leading: _JSON_VALUE_RE.sub(_json_value, text),
    _json_numbers,
    lambda text, _leading: ID_CARD_RE.sub(lambda m: token("id_card", m.group(0)), text),
    lambda text, _leading: PHONE_RE.sub(lambda m: token("phone", m.group(0)), text),
    lambda text, _leading: ADDRESS_RE.sub(lambda m: generalise_address(m.group(0)), text),
    lambda text, leading: mask_ips(text, leading),
)
_STEP_HINTS = (
    rf'"({_KEY_NAMES})"',  # (Python's \s is wider than RE2's: the key alone)
    rf'"({"|".join(PHONE_KEYS + ID_CARD_KEYS)})"',
    r"(^|[^0-9])[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    r"[0-9Xx]([^0-9A-Za-z]|$)",
    r"(^|[^0-9])(\+?86[- ]?)?1[3-9][0-9]{9}([^0-9]|$)",
    r"[0-9]号",
    r"(^|[^0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}($|[^0-9.]|\.[^0-9]|\.$)"
    r"|::|:[0-9A-Fa-f]{1,4}:",
)


def scrub_array(values: pa.Array, leading_address: bool = False) -> pa.Array:
    """`scrub` over a string column, the same text for text: step by step, each step runs in
    Python only on the values its RE2 hint matches as they are then (a step leaves a value its
    hint does not match unchanged, whatever an earlier step wrote into it). A flagged props
    value needs two or three of the six steps, a bot's raw event line the IP step alone."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    last = len(_STEPS) - 1
    for k, (step, hint) in enumerate(zip(_STEPS, _STEP_HINTS, strict=True)):
        found = pc.match_substring_regex(values, hint)
        if leading_address and k == last:
            found = pc.or_(found, pc.match_substring_regex(values, _LEADING_HINT))
        found = pc.fill_null(found, False)
        if not pc.any(found).as_py():
            continue
        texts = [step(text, leading_address) for text in values.filter(found).to_pylist()]
        values = pc.replace_with_mask(values, found, pa.array(texts, values.type))
    return values


def mask_ips(text: str | None, leading_address: bool = False) -> str | None:
    """`text` with every IP address in it cut to its network (IPv4 /24, IPv6 /48).

    `leading_address`: the text starts with a client address that may be cut off (an nginx
    line that ends inside it): a run of hex groups there keeps at most its first three."""
    if not text:
        return text
    if leading_address:
        head = _LEADING_V6.match(text)
        if head and _v6_network(head.group(0)) is None:
            text = _partial_v6(head.group(0)) + text[head.end() :]
    if "." in text:
        text = _IPV4_FREE.sub(_v4_network, text)
    if ":" in text and _IPV6_HINT.search(text):
        text = _IPV6_FREE.sub(lambda m: _v6_network(m.group(0)) or m.group(0), text)
    return text


def _v4_network(match: re.Match) -> str:
    """A dotted quad's /24 when every octet is 0-255 (else it is no address: kept)."""
    if _IPV4_OCTETS.fullmatch(match.group(0)):
        return match.group(1) + ".0"
    return match.group(0)


def _v6_network(candidate: str) -> str | None:
    """The /48 of `candidate` if it is an IPv6 address, else None."""
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    return str(ipaddress.IPv6Network(f"{address}/48", strict=False).network_address)


def _partial_v6(head: str) -> str:
    """A cut-off IPv6 address reduced to what a /48 shows: the groups before `::` (at most
    three) or the first three groups."""
    before = head.split("::", 1)[0] if "::" in head else head
    groups = before.split(":")
    if "::" not in head and len(groups) <= 3:
        return head  # three groups or fewer: no more than the /48
    return ":".join(groups[:3]) + "::"


def truncate_ip(text: str | None) -> str | None:
    """An IP address cut to its network: IPv4 /24, IPv6 /48 (see above)."""
    if not text:
        return text
    text = re.sub(_IPV4, r"\1.0", text)
    if ":" not in text:
        return text
    match = _IPV6_IN_TEXT.match(text)
    if match is None:
        return text
    try:
        address = ipaddress.IPv6Address(match.group(1).split("%")[0])
    except ValueError:
        return text
    return str(ipaddress.IPv6Network(f"{address}/48", strict=False).network_address)


_HEXTET = "[0-9A-Fa-f]{1,4}"
_IPV6_HEAD = rf"^(?P<g1>{_HEXTET}):(?P<g2>{_HEXTET}):(?P<g3>{_HEXTET}):[0-9A-Fa-f:.]*$"


_PLAIN_V4 = r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"


def truncate_ips(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`truncate_ip` over an Arrow string column, vectorised: a value that is an IPv4 address
    and nothing else (most) by cutting its last number; the others by `_truncate_ips`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.string())
    plain = pc.fill_null(pc.match_substring_regex(values, _PLAIN_V4), True)
    cut = pc.replace_substring_regex(values, pattern=r"\.[0-9]{1,3}$", replacement=".0")
    if pc.all(plain).as_py():
        return cut
    other = pc.invert(plain)
    return pc.replace_with_mask(cut, other, _truncate_ips(values.filter(other)))


def truncate_ips_where(values: pa.Array, where: np.ndarray) -> pa.Array:
    """`values` with those `where` says cut by truncate_ips, the others as they are (a scanner
    wrote them cut already, or they are not kept)."""
    if not where.any():
        return values
    mask = pa.array(where)
    return pc.replace_with_mask(values, mask, truncate_ips(values.filter(mask)))


def _truncate_ips(values: pa.Array) -> pa.Array:
    """`truncate_ip` over any string column: IPv4 by RE2 replacement; an IPv6 address whose
    first three groups are written out (the usual case) by RE2 plus the rules of the
    compressed form; any other value holding `:` once per distinct value in Python."""
    cut = pc.replace_substring_regex(values, pattern=_IPV4, replacement=r"\1.0")
    v6 = pc.fill_null(pc.match_substring(cut, ":"), False)
    if not pc.any(v6).as_py():
        return cut
    head = pc.fill_null(pc.match_substring_regex(cut, _IPV6_HEAD), False)
    if pc.any(head).as_py():
        groups = pc.extract_regex(cut.filter(head), _IPV6_HEAD)
        g = [
            pc.replace_substring_regex(
                pc.utf8_lower(groups.field(f"g{k}")), pattern="^0+(.)", replacement=r"\1"
            )
            for k in (1, 2, 3)
        ]
        zero = [pc.equal(x, "0") for x in g]
        # /48: groups 4-8 are zero, so the trailing zero groups fold into `::`
        network = pc.if_else(
            zero[2],
            pc.if_else(
                zero[1],
                pc.if_else(zero[0], "::", pc.binary_join_element_wise(g[0], "", "::")),
                pc.binary_join_element_wise(pc.binary_join_element_wise(g[0], g[1], ":"), "::", ""),
            ),
            pc.binary_join_element_wise(g[0], g[1], g[2], ":"),
        )
        network = pc.if_else(zero[2], network, pc.binary_join_element_wise(network, "::", ""))
        cut = pc.replace_with_mask(cut, head, network)
        v6 = pc.and_(v6, pc.invert(head))
        if not pc.any(v6).as_py():
            return cut
    picked = cut.filter(v6).dictionary_encode()
    distinct = pa.array([truncate_ip(v) for v in picked.dictionary.to_pylist()], pa.string())
    return pc.replace_with_mask(cut, v6, distinct.take(picked.indices))


def scrub_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Vectorised entry point for a DuckDB Python UDF (called only on prefiltered rows)."""
    return scrub_array(values.cast(pa.string()))


def register(con) -> None:
    """Register `pii_scrub(VARCHAR) -> VARCHAR` on a DuckDB connection."""
    salt()  # fail before the query if the salt is unusable
    con.create_function(
        "pii_scrub",
        scrub_arrow,
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


def sql_scrubbed(expression: str) -> str:
    """SQL for `expression` scrubbed: the UDF runs only where the RE2 prefilter matches."""
    pattern = SQL_PREFILTER.replace("'", "''")
    return (
        f"CASE WHEN regexp_matches({expression}, '{pattern}') "
        f"THEN pii_scrub({expression}) ELSE {expression} END"
    )
