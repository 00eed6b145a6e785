"""A tool's parameters for the model, derived from the msgspec Struct its arguments decode to.

msgspec writes full JSON Schema; Gemini takes only an OpenAPI 3.0 subset of it. So the
Struct's definition is inlined (no `$ref`/`$defs`), an optional field is its plain type
(optional is saying so in `required`, not a union with null), a string Literal gets the
`"type": "string"` its `enum` needs, and titles and defaults are left out: the Struct's
name tells the model nothing, and what an omitted field becomes is the handler's business.
"""

from __future__ import annotations

from typing import Any

import msgspec

_UNUSED_KEYS = frozenset({"title", "default"})
_NULL = {"type": "null"}


def parameters_of(struct_type: type[msgspec.Struct]) -> tuple[dict[str, Any], list[str]]:
    """The `properties` and `required` of a FunctionSchema for these arguments."""
    schema = msgspec.json.schema(struct_type)
    definitions = schema.get("$defs", {})
    shaped = _shape(schema, definitions)
    return shaped.get("properties", {}), shaped.get("required", [])


def _shape(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_shape(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    members = node.pop("anyOf", None)
    if members is not None and len(members) == 2 and _NULL in members:
        node.update(next(member for member in members if member != _NULL))
    elif members is not None:
        node["anyOf"] = members
    reference = node.pop("$ref", None)
    if reference is not None:
        node = {**definitions[reference.removeprefix("#/$defs/")], **node}
    for key in (*_UNUSED_KEYS, "$defs"):
        node.pop(key, None)
    enum = node.get("enum")
    if isinstance(enum, list) and "type" not in node and all(isinstance(m, str) for m in enum):
        node = {"type": "string", **node}
    return {
        key: (
            {name: _shape(prop, definitions) for name, prop in value.items()}
            if key == "properties"
            else _shape(value, definitions)
        )
        for key, value in node.items()
    }
