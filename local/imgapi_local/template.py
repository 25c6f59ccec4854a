"""Reading template.yaml: the single source of truth for functions, routes, queues and tables."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt ...) turned into their long form."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):  # !Condition X is {"Condition": X}, not a function
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt and Fn::Join against parameters and created resources."""

    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    pseudo: dict[str, str] = field(default_factory=lambda: {
        "AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "imgapi-local", "AWS::Partition": "aws",
    })

    def ref(self, name: str) -> str:
        for source in (self.pseudo, self.parameters, self.refs):
            if name in source:
                return str(source[name])
        raise KeyError(f"cannot resolve Ref {name}")

    def get_att(self, resource: str, attribute: str) -> str:
        return str(self.attributes[resource][attribute])

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(extra[m.group(1)]) if m.group(1) in extra else self._sub(m.group(1)), text)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str) -> str:
        return self.get_att(*name.split(".", 1)) if "." in name else self.ref(name)


def parameter_defaults(template: dict) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    properties: dict

    @property
    def events(self) -> dict:
        return self.properties.get("Events") or {}


def functions(template: dict) -> list[FunctionSpec]:
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        if props.get("PackageType") == "Image":
            # The image's handler is its CMD; its code is the folder that holds its Dockerfile.
            code_dir = (ROOT / resource["Metadata"]["Dockerfile"]).parent
            handler = props["ImageConfig"]["Command"][0]
        else:
            code_dir = ROOT / props["CodeUri"]
            handler = props["Handler"]
        specs.append(FunctionSpec(logical_id, code_dir, handler, props))
    return specs


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form, e.g. /api/v1/upscale/status/{task_id}
    function: str

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


def http_routes(template: dict) -> list[Route]:
    return [
        Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"], spec.logical_id)
        for spec in functions(template)
        for event in spec.events.values()
        if event["Type"] == "HttpApi"
    ]


def function_environment(template: dict, spec: FunctionSpec, resolver: Resolver) -> dict[str, str]:
    env = dict(((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {}))
    env.update((spec.properties.get("Environment") or {}).get("Variables", {}))
    return {k: str(resolver.resolve(v)) for k, v in env.items()}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
