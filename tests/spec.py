"""OpenAI's published API schema, as JSON Schema: `validate("CreateChatCompletionResponse", body)`.

Loads `../shared/spec/openai-openapi.yaml` (beside the checkout) once per process and converts
its OpenAPI dialect (3.0 `nullable` mixed with 3.1) into JSON Schema 2020-12: `nullable: true` becomes
`anyOf [..., {"type": "null"}]`, `#/components/schemas/X` refs point into `$defs`, `x-*`
extensions and `discriminator` are dropped, and OpenAI's `format: unixtime` means whole seconds.

`strict=True` additionally forbids properties the spec does not name (on every object schema
that lists its properties), which catches provider-specific fields leaking into our bodies.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(os.environ.get(
    "OPENAI_SPEC",
    Path(__file__).resolve().parent.parent.parent / "shared" / "spec" / "openai-openapi.yaml",
))
_REF_PREFIX = "#/components/schemas/"

__all__ = ["SPEC_PATH", "errors", "members", "validate", "validator"]


def _convert(node: Any, strict: bool) -> Any:
    """One OpenAPI schema node -> JSON Schema 2020-12 (recursively)."""
    if isinstance(node, list):
        return [_convert(v, strict) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("discriminator", "nullable", "example", "deprecated"):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
            out[key] = "#/$defs/" + value[len(_REF_PREFIX) :]
        elif key in ("properties", "patternProperties", "$defs", "definitions"):
            out[key] = {name: _convert(sub, strict) for name, sub in value.items()}
        else:
            out[key] = _convert(value, strict)
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=1)
def _openapi() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
    with SPEC_PATH.open("rb") as f:
        data: dict[str, Any] = yaml.load(f, Loader=loader)  # a safe loader, C or Python
    return data


@functools.lru_cache(maxsize=2)
def _defs(strict: bool) -> dict[str, Any]:
    schemas = _openapi()["components"]["schemas"]
    return {name: _convert(schema, strict) for name, schema in schemas.items()}


@functools.lru_cache(maxsize=8)
def members(union: str) -> dict[str, str]:
    """The members of a union component (e.g. `ResponseStreamEvent`) by their `type` value, so
    an instance can be checked against its own member (a union's errors say only "no match")."""
    schemas = _openapi()["components"]["schemas"]
    out: dict[str, str] = {}
    for ref in schemas[union].get("anyOf") or schemas[union].get("oneOf") or ():
        name = ref["$ref"].removeprefix(_REF_PREFIX)
        for kind in schemas[name].get("properties", {}).get("type", {}).get("enum", ()):
            out[kind] = name
    return out


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()

    @checker.checks("unixtime")
    def _unixtime(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    return checker


@functools.lru_cache(maxsize=64)
def validator(component: str, strict: bool = False) -> jsonschema.Draft202012Validator:
    """A cached validator for one component of the spec (e.g. `CreateChatCompletionResponse`)."""
    defs = _defs(strict)
    if component not in defs:
        raise KeyError(f"no component {component!r} in {SPEC_PATH.name}")
    schema = {"$defs": defs, "$ref": f"#/$defs/{component}"}
    return jsonschema.Draft202012Validator(schema, format_checker=_format_checker())


def errors(component: str, instance: Any, strict: bool = False) -> list[str]:
    """Every violation, as `path: message` lines (empty when the instance is valid)."""
    found = validator(component, strict).iter_errors(instance)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found)


def validate(component: str, instance: Any, strict: bool = False) -> None:
    """Raise `AssertionError` listing every way `instance` breaks the spec's `component`."""
    problems = errors(component, instance, strict)
    if problems:
        raise AssertionError(f"not a valid {component}:\n  " + "\n  ".join(problems))
