"""The tracking plan (schemas/*.json, JSON Schema draft 2020-12) compiled into DuckDB SQL.

Validating a million events a night with the `jsonschema` library costs minutes of Python; the
same rules as SQL predicates run inside the DuckDB query that parses the lines. The compiler
supports exactly the keywords our schemas use and refuses any other, so a schema change that
needs more cannot pass unnoticed (tests/ingest/test_events.py checks that the SQL verdicts agree
with `jsonschema` on every kind of violation).

Every value is pulled out of the line once: `json_extract(line, [paths])` parses a line one
time and returns the JSON text of every path the plan mentions; the checks then look at each
value's `json_type` and text. Messages read like the validator's: `$.props.order_no: 'x' does
not match '^SO[0-9]{16}$'`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Union

import msgspec

from ingest import identifiers

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
ANNOTATIONS = {"$schema", "$id", "title", "description"}
SUPPORTED = ANNOTATIONS | {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
}
# JSON Schema type -> what DuckDB's json_type says for it (integer: see _type_test).
JSON_TYPES = {
    "string": ("VARCHAR",),
    "number": ("BIGINT", "UBIGINT", "DOUBLE"),
    "boolean": ("BOOLEAN",),
    "null": ("NULL",),
    "object": ("OBJECT",),
    "array": ("ARRAY",),
}


class UnsupportedSchema(ValueError):
    """A schema uses a keyword (or a form of one) the SQL compiler does not implement."""


@dataclass
class CompiledPlan:
    """The plan as SQL: the paths to extract and a per-event expression of the first violation."""

    events: list[str]
    paths: list[str] = field(default_factory=list)  # JSON paths, e.g. $.props.order_no

    def column(self, path: str) -> int:
        return self.paths.index(path)

    def raw_columns(self) -> str:
        """SQL select-list items r_<k>: the JSON text of every path, from the list `v` that
        `json_extract(line, [paths])` returns (projected once: the checks use each many times)."""
        return ",\n    ".join(
            f"cast(v[{k + 1}] as varchar) as r_{k}" for k in range(len(self.paths))
        )

    def value_columns(self) -> str:
        """SQL select-list items: t_<k> (the value's JSON type, as DuckDB's json_type names it)
        and s_<k> (its text, strings unescaped) of every path, from the raw JSON text r_<k>."""
        items = []
        for k in range(len(self.paths)):
            raw = f"r_{k}"
            items.append(
                f"case when {raw} is null then null else case left({raw}, 1) "
                f"when '\"' then 'VARCHAR' when '{{' then 'OBJECT' "
                f"when '[' then 'ARRAY' when 't' then 'BOOLEAN' when 'f' then 'BOOLEAN' "
                f"when 'n' then 'NULL' else if(contains({raw}, '.') or contains({raw}, 'e') "
                f"or contains({raw}, 'E'), 'DOUBLE', 'BIGINT') end end as t_{k}"
            )
            items.append(
                f"case when left({raw}, 1) = '\"' then if(contains({raw}, '\\'), "
                f"{raw} ->> '$', {raw}[2:-2]) when {raw} = 'null' then null else {raw} end "
                f"as s_{k}"
            )
        return ",\n    ".join(items)

    def extract_list(self) -> str:
        return "[" + ", ".join(_sql_string(p) for p in self.paths) + "]"


def load(schema_dir: Path = SCHEMA_DIR) -> dict[str, dict]:
    """event name -> its JSON Schema."""
    plan = {}
    for path in sorted(schema_dir.glob("*.json")):
        plan[identifiers.validate(path.stem, "event name")] = json.loads(path.read_text("utf-8"))
    return plan


def compile_plan(plan: dict[str, dict]) -> tuple[CompiledPlan, str]:
    """(the paths to extract, SQL of the first violation message or NULL for column `event`)."""
    compiled = CompiledPlan(sorted(plan))
    branches = []
    for name in compiled.events:
        checks: list[str] = []
        _compile_node(plan[name], "$", compiled, checks, name)
        body = f"coalesce({', '.join(checks)})" if checks else "null"
        branches.append(f"when {_sql_string(name)} then {body}")
    return compiled, "case event\n        " + "\n        ".join(branches) + "\n    end"


def _compile_node(schema: dict, path: str, plan: CompiledPlan, checks: list[str], event: str):
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{event}: {path}: boolean schemas are not supported")
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise UnsupportedSchema(f"{event}: {path}: unsupported keywords {sorted(unknown)}")
    if schema.get("additionalProperties", True) is not True:
        raise UnsupportedSchema(f"{event}: {path}: only additionalProperties: true is supported")
    k = _path_index(plan, path) if path != "$" else None
    t, s = (f"t_{k}", f"s_{k}") if k is not None else (None, None)
    if k is not None:
        _value_checks(schema, path, t, s, checks, event)
    elif set(schema) - ANNOTATIONS - {"type", "required", "properties", "additionalProperties"}:
        raise UnsupportedSchema(f"{event}: the root supports type, required, properties only")
    if k is None and schema.get("type", "object") != "object":
        raise UnsupportedSchema(f"{event}: the root must be an object")
    for key in schema.get("required", ()):
        child = _child(path, key)
        j = _path_index(plan, child)
        parent_ok = "true" if t is None else f"{t} = 'OBJECT'"
        checks.append(
            f"case when {parent_ok} and t_{j} is null "
            f"then {_sql_string(f'{path}: {key!r} is a required property')} end"
        )
    for key, sub in schema.get("properties", {}).items():
        _compile_node(sub, _child(path, key), plan, checks, event)


def _value_checks(schema: dict, path: str, t: str, s: str, checks: list[str], event: str):
    shown = f"{t} <> 'NULL' and {s} is not null"

    def fail(condition: str, message_sql: str) -> None:
        checks.append(f"case when {t} is not null and ({condition}) then {message_sql} end")

    def text(suffix: str) -> str:
        return f"{_sql_string(path + ': ')} || coalesce({s}, 'null') || {_sql_string(suffix)}"

    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        for name in names:
            if name not in JSON_TYPES and name != "integer":
                raise UnsupportedSchema(f"{event}: {path}: unknown type {name!r}")
        test = " or ".join(_type_test(name, t, s) for name in names)
        fail(f"not ({test})", text(f" is not of type {' or '.join(repr(n) for n in names)}"))
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        if not all(isinstance(v, str) for v in values):
            raise UnsupportedSchema(f"{event}: {path}: enum/const supports strings only")
        listed = ", ".join(_sql_string(v) for v in values)
        word = f"is not one of {values!r}" if "enum" in schema else f"was expected {values[0]!r}"
        fail(f"not ({t} = 'VARCHAR' and {s} in ({listed}))", text(" " + word))
    is_string = f"{t} = 'VARCHAR'"
    if "pattern" in schema:
        pattern = schema["pattern"]
        fail(
            f"{is_string} and not regexp_matches({s}, {_sql_string(pattern)})",
            text(f" does not match {pattern!r}"),
        )
    if "minLength" in schema:
        n = int(schema["minLength"])
        fail(f"{is_string} and length({s}) < {n}", text(f" is shorter than {n} characters"))
    if "maxLength" in schema:
        n = int(schema["maxLength"])
        fail(f"{is_string} and length({s}) > {n}", text(f" is longer than {n} characters"))
    is_number = f"{t} in ('BIGINT', 'UBIGINT', 'DOUBLE')"
    if "minimum" in schema:
        n = float(schema["minimum"])
        fail(
            f"{is_number} and try_cast({s} as double) < {n!r}",
            text(f" is less than the minimum of {schema['minimum']}"),
        )
    if "maximum" in schema:
        n = float(schema["maximum"])
        fail(
            f"{is_number} and try_cast({s} as double) > {n!r}",
            text(f" is greater than the maximum of {schema['maximum']}"),
        )
    del shown


def _type_test(name: str, t: str, s: str) -> str:
    if name == "integer":  # draft 2020-12: 1.0 is an integer
        return (
            f"{t} in ('BIGINT', 'UBIGINT') or ({t} = 'DOUBLE' "
            f"and try_cast({s} as double) = floor(try_cast({s} as double)))"
        )
    listed = ", ".join(f"'{x}'" for x in JSON_TYPES[name])
    return f"{t} in ({listed})"


def _child(path: str, key: str) -> str:
    return f"{path}.{identifiers.validate(key, 'property name')}"


def _path_index(plan: CompiledPlan, path: str) -> int:
    if path not in plan.paths:
        plan.paths.append(path)
    return plan.paths.index(path)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---- the same plan as msgspec types: the fast path for lines that pass -----------------------

ENVELOPE_ORDER = (
    "event_id",
    "platform",
    "app_version",
    "device_id",
    "user_id",
    "client_ts",
    "sent_ts",
    "server_ts",
    "page",
    "referrer",
    "ip",
    "ua",
    "props",
)
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class FastPlan:
    """msgspec decoders that accept a line only if the SQL validator would accept it too.

    `envelope` decodes a whole line (a tagged union on `event`; props kept as raw JSON) and
    `props[event]` checks that event's props. A line either decoder refuses, for any reason, is
    left to the SQL path, which alone decides and words the verdict; so this is only ever a
    shortcut for valid events, never a second opinion. Events whose schema uses a form this
    mapping lacks have no decoder (all their lines take the SQL path)."""

    envelope: msgspec.json.Decoder
    props: dict[str, msgspec.json.Decoder]
    tags: dict[type, str]
    # (event, envelope field, pattern): checked on the decoded columns with RE2 (Python's re
    # inside msgspec would cost more than the decoding)
    patterns: list[tuple[str, str, str]] = field(default_factory=list)
    # every key the decoders read, as it is written in a line (`"key"`): msgspec keeps the last
    # of a key written twice, the SQL the first, so such lines go to the SQL (events.py)
    keys: tuple[bytes, ...] = ()


def compile_fast(plan: dict[str, dict]) -> FastPlan | None:
    """The plan as msgspec Structs (see FastPlan), or None when no event maps."""
    structs, props, tags, patterns = [], {}, {}, []
    keys = {"event", *ENVELOPE_ORDER}
    for name in sorted(plan):
        try:
            envelope, props_struct = _event_structs(name, plan[name])
        except UnsupportedSchema:
            continue
        structs.append(envelope)
        props[name] = msgspec.json.Decoder(props_struct)
        tags[envelope] = name
        for key, sub in plan[name]["properties"].items():
            if key != "props" and "pattern" in sub:
                patterns.append((name, key, sub["pattern"]))
        keys |= set(plan[name]["properties"]["props"].get("properties", {}))
    if not structs:
        return None
    decoder = msgspec.json.Decoder(Union[tuple(structs)])  # noqa: UP007
    quoted = tuple(f'"{key}"'.encode() for key in sorted(keys))
    return FastPlan(decoder, props, tags, patterns, quoted)


def _envelope_of(name: str, schema: dict) -> dict:
    """The schema's top-level properties, if they are envelope fields only and `event` is
    this event's name (what both fast paths require), else UnsupportedSchema."""
    properties = schema.get("properties", {})
    if set(properties) - set(ENVELOPE_ORDER) - {"event"} or properties.get("event") != {
        "const": name
    }:
        raise UnsupportedSchema(name)
    return properties


def _event_structs(name: str, schema: dict) -> tuple[type, type]:
    properties = _envelope_of(name, schema)
    required = set(schema.get("required", ()))
    fields = []
    for key in ENVELOPE_ORDER:
        if key == "props":
            kind = msgspec.Raw
        elif key in properties:
            kind = _msgspec_type(properties[key], with_pattern=False)
        else:
            raise UnsupportedSchema(name)  # the fast path wants every envelope field typed
        if key not in required:
            raise UnsupportedSchema(name)
        fields.append((key, kind))
    props_schema = properties.get("props", {})
    if props_schema.get("type") != "object":
        raise UnsupportedSchema(name)
    props_required = set(props_schema.get("required", ()))
    props_fields = []
    for key, sub in props_schema.get("properties", {}).items():
        kind = _msgspec_type(sub)
        if key in props_required:
            props_fields.append((key, kind))
        else:
            props_fields.append((key, kind | msgspec.UnsetType, msgspec.UNSET))
    if props_required - set(props_schema.get("properties", {})):
        raise UnsupportedSchema(name)
    props_fields.sort(key=lambda field: len(field) == 3)  # required fields first
    envelope = msgspec.defstruct(f"Envelope_{name}", fields, tag_field="event", tag=name)
    return envelope, msgspec.defstruct(f"Props_{name}", props_fields)


def _msgspec_type(schema: dict, with_pattern: bool = True):
    """A msgspec type that accepts a subset of what `schema` accepts (subset, not equal: a
    value it refuses goes to the SQL path, which is exact)."""
    keys = set(schema) - ANNOTATIONS
    if keys - {"type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum"}:
        raise UnsupportedSchema("keyword")
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        if keys - {"enum", "const", "type"} or not all(isinstance(v, str) for v in values):
            raise UnsupportedSchema("enum")
        if schema.get("type", "string") != "string":
            raise UnsupportedSchema("enum")
        return Literal[tuple(values)]
    types = schema.get("type")
    if types is None:
        raise UnsupportedSchema("untyped")
    names = [types] if isinstance(types, str) else list(types)
    kinds = []
    for kind_name in names:
        if kind_name == "string":
            meta = {}
            if "pattern" in schema and with_pattern:
                meta["pattern"] = schema["pattern"]
            if "minLength" in schema:
                meta["min_length"] = int(schema["minLength"])
            if "maxLength" in schema:
                meta["max_length"] = int(schema["maxLength"])
            kinds.append(Annotated[str, msgspec.Meta(**meta)] if meta else str)
        elif kind_name == "integer":
            low = max(_INT64[0], math.ceil(schema.get("minimum", _INT64[0])))
            high = min(_INT64[1], math.floor(schema.get("maximum", _INT64[1])))
            kinds.append(Annotated[int, msgspec.Meta(ge=low, le=high)])
        elif kind_name == "number":
            bounds = {}
            if "minimum" in schema:
                bounds["ge"] = float(schema["minimum"])
            if "maximum" in schema:
                bounds["le"] = float(schema["maximum"])
            kinds.append(Annotated[float, msgspec.Meta(**bounds)] if bounds else float)
        elif kind_name == "boolean":
            kinds.append(bool)
        elif kind_name == "null":
            kinds.append(None)
        else:
            raise UnsupportedSchema(kind_name)  # object, array: the SQL path
    kind = kinds[0]
    for other in kinds[1:]:
        kind = kind | other
    return kind


# ---- the same plan as rules on columns: the C scanner's fast path ---------------------------

# The kinds of value ingest/_events.c writes per slot (the same numbers as its KIND_*).
KIND_ABSENT, KIND_NULL, KIND_FALSE, KIND_TRUE, KIND_INT, KIND_FLOAT = 0, 1, 2, 3, 4, 5
KIND_STRING, KIND_OBJECT, KIND_ARRAY = 6, 7, 8
# JSON Schema type -> the kinds that surely have it ("integer": a plain integer only; 1.0 is
# an integer too, but the scanner calls it a float and leaves the line to the SQL path)
KINDS = {
    "string": (KIND_STRING,),
    "integer": (KIND_INT,),
    "number": (KIND_INT, KIND_FLOAT),
    "boolean": (KIND_FALSE, KIND_TRUE),
    "null": (KIND_NULL,),
    "object": (KIND_OBJECT,),
    "array": (KIND_ARRAY,),
}
NESTED = "props"  # the one envelope object whose keys the scanner reads too
_VALUE_KEYWORDS = {"type", "enum", "const", "pattern", "minLength", "maxLength", "minimum"}
_VALUE_KEYWORDS |= {"maximum", "additionalProperties"}


@dataclass(frozen=True)
class ColumnRule:
    """One check of the plan on one slot: `test` is kinds (the value is absent or of one of
    `arg`'s kinds), required, enum (a string among `arg`), pattern, min_length, max_length
    (strings only), minimum, maximum (numbers only); `events` are the events it applies to."""

    slot: int
    test: str
    arg: object
    events: tuple[str, ...]


@dataclass
class ColumnPlan:
    """The plan as rules on the scanner's slot columns (ingest/_events.c): a line meets its
    event's schema if it breaks none of the rules that apply to its event. As with FastPlan,
    a line that breaks one (or that the scanner doubts) is left to the SQL validator, which
    alone words verdicts; events whose schema uses a form this lacks have no rules here and
    all their lines take the other paths."""

    envelope: tuple[str, ...]  # top-level keys: slots 0 .. len - 1
    nested: tuple[str, ...]  # the keys of props: the slots after them
    events: tuple[str, ...]  # the events decided here
    rules: list[ColumnRule]

    def slot(self, key: str) -> int:
        return self.envelope.index(key)


def compile_columns(plan: dict[str, dict]) -> ColumnPlan | None:
    """The plan as rules on slot columns (see ColumnPlan), or None when no event maps."""
    per_event: dict[str, list[tuple[tuple[str, ...], str, object]]] = {}
    for name in sorted(plan):
        try:
            per_event[name] = _column_rules(name, plan[name])
        except UnsupportedSchema:
            continue
    if not per_event:
        return None
    envelope = ("event", *ENVELOPE_ORDER)
    nested = tuple(
        sorted({path[1] for rules in per_event.values() for path, _, _ in rules if len(path) > 1})
    )
    slots = {(key,): k for k, key in enumerate(envelope)}
    slots |= {(NESTED, key): len(envelope) + k for k, key in enumerate(nested)}
    grouped: dict[tuple[int, str, object], list[str]] = {}
    for name, rules in per_event.items():
        for path, test, arg in rules:
            grouped.setdefault((slots[path], test, arg), []).append(name)
    return ColumnPlan(
        envelope,
        nested,
        tuple(per_event),
        [ColumnRule(slot, test, arg, tuple(names)) for (slot, test, arg), names in grouped.items()],
    )


def _column_rules(name: str, schema: dict) -> list[tuple[tuple[str, ...], str, object]]:
    """(path, test, arg) of every check of one event's schema (see ColumnRule)."""
    properties = _envelope_of(name, schema)
    if (
        set(schema) - ANNOTATIONS - {"type", "required", "properties", "additionalProperties"}
        or schema.get("type", "object") != "object"
        or schema.get("additionalProperties", True) is not True
    ):
        raise UnsupportedSchema(name)
    rules = [((key,), "required", None) for key in schema.get("required", ())]
    for key, sub in properties.items():
        if key == "event":
            continue  # the line's event is this one: checked when its name is looked up
        if key != NESTED:
            rules += _value_rules((key,), sub)
            continue
        if not isinstance(sub, dict):
            raise UnsupportedSchema(name)
        inner = sub.get("properties", {})
        rest = {k: v for k, v in sub.items() if k not in ("properties", "required")}
        rules += _value_rules((key,), rest)
        rules += [((key, child), "required", None) for child in sub.get("required", ())]
        for child, child_schema in inner.items():
            rules += _value_rules((key, child), child_schema)
    return rules


def _value_rules(path: tuple[str, ...], schema: dict) -> list[tuple[tuple[str, ...], str, object]]:
    if not isinstance(schema, dict) or set(schema) - ANNOTATIONS - _VALUE_KEYWORDS:
        raise UnsupportedSchema(".".join(path))
    if schema.get("additionalProperties", True) is not True:
        raise UnsupportedSchema(".".join(path))
    rules: list[tuple[tuple[str, ...], str, object]] = []
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
        if any(n not in KINDS for n in names):
            raise UnsupportedSchema(".".join(path))
        rules.append((path, "kinds", tuple(sorted({k for n in names for k in KINDS[n]}))))
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        if not all(isinstance(v, str) for v in values):
            raise UnsupportedSchema(".".join(path))
        rules.append((path, "enum", tuple(values)))
    if "pattern" in schema:
        rules.append((path, "pattern", schema["pattern"]))
    for keyword, test in (("minLength", "min_length"), ("maxLength", "max_length")):
        if keyword in schema:
            rules.append((path, test, int(schema[keyword])))
    for keyword in ("minimum", "maximum"):
        if keyword in schema:
            rules.append((path, keyword, float(schema[keyword])))
    return rules
