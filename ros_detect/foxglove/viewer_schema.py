"""The JSON Schemas the Foxglove channels advertise: the canonical schemas, simplified for the viewers.

Foxglove Studio and Lichtblick build their message definitions from a channel's JSON Schema with a small
parser that accepts only plain typed fields: each property needs a single `type` (boolean, string, number,
integer, object, or array of one of those), and `oneOf` only when every alternative is a numeric `const`.
Anything else (`const`/`enum` without `type`, `["number", "null"]`, `$ref`, a nullable `oneOf`) makes the
app drop the whole channel ("Failed to parse channel schema").

The canonical schemas in ros_detect/schemas/ stay as they are (they validate documents); this module
derives from them what the viewers can parse and that still describes the same documents:
`$ref` is inlined, a nullable type becomes its non-null type (a null value still displays as null),
`const`/`enum` get the `type` of their values, a `oneOf` of null and one schema becomes that schema.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]


class UnviewableSchemaError(ValueError):
    """A canonical schema construct that has no equivalent the viewers can parse."""


def viewer_schema(canonical: Schema) -> Schema:
    """The viewer-compatible form of a canonical JSON Schema (the input is not modified)."""
    defs = canonical.get("$defs", {})
    out = _convert(canonical, defs, "")
    out.pop("$defs", None)
    return out


def _value_type(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise UnviewableSchemaError(f"{where}: cannot give a type to the constant {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _resolve_ref(node: Schema, defs: Schema, where: str) -> Schema:
    ref = node["$ref"]
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise UnviewableSchemaError(f"{where}: only local references into $defs can be inlined, got {ref!r}")
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return {**copy.deepcopy(defs[ref[len(prefix) :]]), **siblings}


def _convert(node: Schema, defs: Schema, where: str) -> Schema:
    while "$ref" in node:
        node = _resolve_ref(node, defs, where)
    node = dict(node)
    for key in ("oneOf", "anyOf"):
        if key in node:
            node = _collapse_alternatives(node, key, defs, where)
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) != 1:
            raise UnviewableSchemaError(f"{where}: a field must have one non-null type, got {node['type']}")
        node["type"] = types[0]
    if "type" not in node and "oneOf" not in node:
        if "const" in node:
            node["type"] = _value_type(node["const"], where)
        elif "enum" in node:
            types = {_value_type(v, where) for v in node["enum"]}
            if len(types) != 1:
                raise UnviewableSchemaError(f"{where}: enum values of mixed types {sorted(types)}")
            node["type"] = types.pop()
    if node.get("type") == "null":
        raise UnviewableSchemaError(f"{where}: a field that is always null has no viewer type")
    if isinstance(node.get("properties"), dict):
        node["properties"] = {k: _convert(v, defs, f"{where}.{k}") for k, v in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _convert(node["additionalProperties"], defs, f"{where}.*")
    if isinstance(node.get("items"), dict):
        node["items"] = _convert(node["items"], defs, f"{where}[]")
    return node


def _collapse_alternatives(node: Schema, key: str, defs: Schema, where: str) -> Schema:
    """`oneOf: [null, X]` -> X; a numeric-const enumeration (which the viewers understand) is kept."""
    alternatives = node[key]
    if key == "oneOf" and all(_is_number(a.get("const")) for a in alternatives):
        return node
    non_null = [a for a in alternatives if a.get("type") != "null"]
    if len(non_null) != 1:
        raise UnviewableSchemaError(f"{where}: {key} with {len(non_null)} non-null alternatives has no viewer type")
    rest = {k: v for k, v in node.items() if k != key}
    chosen = _convert(non_null[0], defs, where)
    return {**chosen, **{k: v for k, v in rest.items() if k not in chosen or k == "description"}}
