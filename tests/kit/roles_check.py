"""Run by tests/kit/test_init.py with the fresh virtual environment's python, in the new app's directory.

    python roles_check.py cdk.out/<stack>.template.json

Prints one JSON document: for each agent of the app's catalog, the statements its role holds in the template
`cdk synth` wrote (`actual`) and the statements baton.iam derives for it (`expected`), rendered with the ARNs
of the same stack built in-process (the construct tree, so the logical ids, are the same), plus anything else
that could widen the role (separate policies, managed policies).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import App

from baton.catalog import ResourceKind, ResourceRef
from baton.iam import Platform, PlatformRef, Ref, agent_role, render_statement
from baton.infra.app import build_app


def normalized(statement: dict[str, Any]) -> dict[str, Any]:
    result = dict(statement)
    for key in ("Action", "Resource"):
        if key in result:
            value = result[key] if isinstance(result[key], list) else [result[key]]
            result[key] = sorted(value, key=repr)
    return result


def main(template_path: str) -> None:
    template = json.loads(Path(template_path).read_text())
    resources = template["Resources"]
    context = json.loads(Path("cdk.json").read_text()).get("context", {})
    app = App(context={**context, "baton:bundle": "false"}, outdir=tempfile.mkdtemp(prefix="baton-kit-"))
    _, stack = build_app(app)
    catalog = stack.catalog

    def resolver(log_group: Any) -> Any:
        def resolve(ref: Ref) -> Any:
            if isinstance(ref, ResourceRef):
                by_kind = {
                    ResourceKind.TABLE: lambda: stack.resources.tables[ref.name].table_arn,
                    ResourceKind.SECRET: lambda: stack.resources.secrets[ref.name].secret_arn,
                    ResourceKind.QUEUE: lambda: stack.resources.queues[ref.name].queue_arn,
                    ResourceKind.TOPIC: lambda: stack.resources.topics[ref.name].topic_arn,
                    ResourceKind.PARAMETER: lambda: stack.resources.parameters[ref.name].parameter_arn,
                }
                return by_kind[ref.kind]()
            assert isinstance(ref, PlatformRef)
            by_platform = {
                Platform.STATE_TABLE: lambda: stack.state_table.table.table_arn,
                Platform.OWN_LOG_GROUP: lambda: log_group.log_group_arn,
            }
            return by_platform[ref.kind]()

        return resolve

    functions = {
        resource["Properties"]["Environment"]["Variables"]["BATON_AGENT"]: resource
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
        and "BATON_AGENT" in resource["Properties"].get("Environment", {}).get("Variables", {})
    }
    report: dict[str, Any] = {"agents": {}, "catalog_agents": sorted(catalog.agents)}
    for name, agent in catalog.agents.items():
        role_id = functions[name]["Properties"]["Role"]["Fn::GetAtt"][0]
        role = resources[role_id]
        actual = [
            normalized(statement)
            for policy in role["Properties"].get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
        ]
        attached = [
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
            and {"Ref": role_id} in resource["Properties"].get("Roles", [])
        ]
        resolve = resolver(stack.agents[name].log_group)
        expected = [
            normalized(stack.resolve(render_statement(statement, resolve)))
            for statement in agent_role(catalog, agent).statements
        ]
        report["agents"][name] = {
            "actual": sorted(actual, key=lambda s: str(s.get("Sid"))),
            "expected": sorted(expected, key=lambda s: str(s.get("Sid"))),
            "managed_policies": role["Properties"].get("ManagedPolicyArns", []),
            "attached_policies": attached,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
