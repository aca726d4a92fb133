"""What Lichtblick / Foxglove Studio make of a Foxglove WebSocket channel: a Python port of their checks.

`parse_json_schema` mirrors `parseJsonSchema` in packages/mcap-support/src/parseJsonSchema.ts of
lichtblick-suite/lichtblick (1.28; Foxglove Studio ships the same function): the same acceptance rules,
in the same order, with the same error texts and the same resulting field types. A schema it rejects is
a channel the app drops with "Failed to parse channel schema on <topic>".

`parse_channel` mirrors the advertise handler of packages/suite-base/src/players/FoxgloveWebSocketPlayer/
index.ts together with parseChannel in packages/mcap-support/src/parseChannel.ts for the encodings the
bridge uses (json + jsonschema, protobuf + protobuf). `resolve_path` follows a message path such as
`/bridge_stats.latency_ms.capture_to_view.p50` through the resulting message definitions, as the Plot
and Raw Messages panels do.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

_ABSENT = object()  # a JavaScript `undefined`: the key is not there at all


class SchemaRejectedError(ValueError):
    """The app's parser threw: the channel is dropped."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # bool | string | uint8 | float64 | int32 | uint32 | <nested type name>
    is_array: bool = False
    is_complex: bool = False
    is_constant: bool = False
    value: Any = None


Datatypes = dict[str, list[Field]]


def _js_stringify(value: Any) -> str:
    """JSON.stringify as used in the upstream error messages (undefined prints as `undefined`)."""
    return "undefined" if value is _ABSENT else json.dumps(value, separators=(",", ":"))


def _get(obj: Any, key: str) -> Any:
    """JavaScript property access on a parsed JSON value: anything missing is undefined."""
    return obj.get(key, _ABSENT) if isinstance(obj, dict) else _ABSENT


def _is_js_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer_type(schema: Any) -> str:
    minimum, exclusive = _get(schema, "minimum"), _get(schema, "exclusiveMinimum")
    unsigned = (_is_js_number(minimum) and minimum >= 0) or (_is_js_number(exclusive) and exclusive >= 0)
    return "uint32" if unsigned else "int32"


def parse_json_schema(root: dict[str, Any], root_type_name: str) -> Datatypes:
    """Port of parseJsonSchema(rootJsonSchema, rootTypeName).datatypes; raises SchemaRejectedError where it throws."""
    datatypes: Datatypes = {}

    def add_fields(schema: Any, type_name: str, key_path: list[str]) -> None:
        fields: list[Field] = []
        if _get(schema, "type") != "object":
            raise SchemaRejectedError(
                f'Expected "type": "object" for schema {type_name}, got {_js_stringify(_get(schema, "type"))}'
            )
        properties = _get(schema, "properties")
        if properties is _ABSENT or properties is None:  # `schema.properties ?? {}`
            properties = {}
        for field_name, field_schema in properties.items():
            where = ".".join([*key_path, field_name])
            one_of = _get(field_schema, "oneOf")
            if isinstance(one_of, list):
                if any(alt is None for alt in one_of):  # `null.const`
                    raise SchemaRejectedError(f"{where}: a oneOf alternative is null (TypeError upstream)")
                if all(_is_js_number(_get(alt, "const")) for alt in one_of):
                    for alt in one_of:
                        title = _get(alt, "title")
                        name = "undefined" if title is _ABSENT else title
                        fields.append(Field(name, "uint32", is_constant=True, value=alt["const"]))
                    fields.append(Field(field_name, "uint32"))
                    continue
                raise SchemaRejectedError(f"Unsupported type for {where}: oneOf alternatives must have number values")
            kind = _get(field_schema, "type")
            if kind == "boolean":
                fields.append(Field(field_name, "bool"))
            elif kind == "string":
                encoding = _get(field_schema, "contentEncoding")
                if encoding is _ABSENT:
                    fields.append(Field(field_name, "string"))
                elif encoding == "base64":
                    fields.append(Field(field_name, "uint8", is_array=True))
                else:  # a JSON null is not `undefined` for a switch: rejected too
                    raise SchemaRejectedError(f"Unsupported contentEncoding {_js_stringify(encoding)} in {where}")
            elif kind == "number":
                fields.append(Field(field_name, "float64"))
            elif kind == "integer":
                fields.append(Field(field_name, _integer_type(field_schema)))
            elif kind == "object":
                nested = f"{type_name}.{field_name}"
                add_fields(field_schema, nested, [*key_path, field_name])
                fields.append(Field(field_name, nested, is_complex=True))
            elif kind == "array":
                items = _get(field_schema, "items")
                if items is _ABSENT or items is None:  # `undefined.type`
                    raise SchemaRejectedError(f"{where}: array without items (TypeError upstream)")
                item_kind = _get(items, "type")
                if item_kind == "boolean":
                    fields.append(Field(field_name, "bool", is_array=True))
                elif item_kind == "string":
                    encoding = _get(items, "contentEncoding")
                    if encoding is not _ABSENT and encoding is not None:  # `!= undefined`: null passes
                        raise SchemaRejectedError(
                            f"Unsupported contentEncoding {_js_stringify(encoding)} for array item {where}"
                        )
                    fields.append(Field(field_name, "string", is_array=True))
                elif item_kind == "number":
                    fields.append(Field(field_name, "float64", is_array=True))
                elif item_kind == "integer":
                    fields.append(Field(field_name, _integer_type(items), is_array=True))
                elif item_kind == "object":
                    nested = f"{type_name}.{field_name}"
                    add_fields(items, nested, [*key_path, field_name])
                    fields.append(Field(field_name, nested, is_array=True, is_complex=True))
                else:
                    raise SchemaRejectedError(f"Unsupported type {_js_stringify(item_kind)} for array item {where}")
            else:  # "null" and anything else, including no type at all
                raise SchemaRejectedError(f"Unsupported type {_js_stringify(kind)} for {where}")
        datatypes[type_name] = fields

    add_fields(root, root_type_name, [])
    return datatypes


@dataclass
class ParsedChannel:
    topic: str
    schema_name: str
    encoding: str
    datatypes: Datatypes = field(default_factory=dict)  # empty for protobuf (the app uses protobufjs there)


def parse_channel(advert: dict[str, Any]) -> ParsedChannel:
    """One `advertise` entry as the app's WebSocket player takes it; SchemaRejectedError where it adds the alert."""
    encoding, schema_encoding = advert["encoding"], advert.get("schemaEncoding")
    parsed = ParsedChannel(advert["topic"], advert["schemaName"], encoding)
    if encoding == "json" and schema_encoding in (None, "jsonschema"):
        text = advert["schema"]
        if not text:
            return parsed  # schemaless JSON: accepted, no definitions
        schema = json.loads(text)
        if not isinstance(schema, (dict, list)):
            raise SchemaRejectedError(f"Invalid schema, expected JSON object, got {type(schema).__name__}")
        parsed.datatypes = parse_json_schema(schema, advert["schemaName"])  # type: ignore[arg-type]
        return parsed
    if encoding == "protobuf" and schema_encoding in (None, "protobuf"):
        from google.protobuf import descriptor_pb2, descriptor_pool

        try:
            fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(advert["schema"], validate=True))
            pool = descriptor_pool.DescriptorPool()
            for fd in fds.file:
                pool.Add(fd)
            pool.FindMessageTypeByName(advert["schemaName"])
        except Exception as exc:  # the app: "Failed to decode base64 schema" / protobufjs lookup failure
            raise SchemaRejectedError(f"protobuf schema of {advert['topic']} unusable: {exc}") from None
        return parsed
    raise SchemaRejectedError(f"Unsupported combination of message / schema encoding: ({encoding} / {schema_encoding})")


def parse_advertisements(adverts: list[dict[str, Any]]) -> tuple[dict[str, ParsedChannel], dict[str, str]]:
    """All channels -> (usable channels by topic, alert text by topic), as the Topics tab and alerts show them."""
    channels: dict[str, ParsedChannel] = {}
    alerts: dict[str, str] = {}
    first_advert: dict[str, dict[str, Any]] = {}
    for advert in adverts:
        topic = advert["topic"]
        try:
            parsed = parse_channel(advert)
        except SchemaRejectedError as exc:
            alerts[topic] = f"Failed to parse channel schema on {topic}: {exc}"
            continue
        previous = first_advert.get(topic)
        if previous is not None and {**previous, "id": 0} != {**advert, "id": 0}:
            alerts[topic] = f"Multiple channels advertise the same topic: {topic}"
            continue
        first_advert[topic] = advert
        channels[topic] = parsed
    return channels, alerts


_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[-?\d+\])*)$")


def resolve_path(channels: dict[str, ParsedChannel], path: str) -> Field | str:
    """The field a message path ends at (or the schema name for a bare topic); KeyError naming what is missing.

    Covers the path forms the shipped layout uses: `/topic`, `/topic.field.sub`, `/topic.array[0].field`.
    """
    topic, _, rest = path.partition(".")
    if topic not in channels:
        raise KeyError(f"{path}: no usable channel {topic} (have {sorted(channels)})")
    channel = channels[topic]
    if not rest:
        return channel.schema_name
    type_name, leaf = channel.schema_name, None
    for part in rest.split("."):
        match = _PART.match(part)
        if match is None:
            raise KeyError(f"{path}: message path part {part!r} is not supported here")
        if type_name not in channel.datatypes:
            raise KeyError(f"{path}: {part!r} is below a field without definitions")
        name, indexes = match.groups()
        candidates = [f for f in channel.datatypes[type_name] if f.name == name and not f.is_constant]
        if not candidates:
            known = [f.name for f in channel.datatypes[type_name] if not f.is_constant]
            raise KeyError(f"{path}: {type_name} has no field {name!r} (fields: {known})")
        leaf = candidates[0]
        if indexes and not leaf.is_array:
            raise KeyError(f"{path}: {name} is not an array")
        if leaf.is_array and not indexes and part != rest.split(".")[-1]:
            raise KeyError(f"{path}: {name} is an array; index it before going deeper")
        type_name = leaf.type if leaf.is_complex else ""
    assert leaf is not None
    return leaf


PLOTTABLE = {"bool", "uint8", "int32", "uint32", "float64"}
