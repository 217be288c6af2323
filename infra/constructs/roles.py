"""Roles whose every statement comes from baton.iam; CDK's automatic grants are switched off."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from baton.iam import Platform, PlatformRef, Resolver, RoleSpec, render_statement
from baton.infra.constructs.nag import acknowledge, nag_resource


class DerivedRole(Construct):
    """An IAM role holding exactly the statements baton.iam derives for one component.

    `role` is the role to hand to functions and state machines: it ignores the grants CDK would add
    (X-Ray, logging), so the deployed statements are the derived ones and nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: RoleSpec,
        service: str,
        resolve: Resolver,
        role_name: str | None = None,
        assumed_by: iam.IPrincipal | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.service = service
        statements = [iam.PolicyStatement.from_json(render_statement(s, resolve)) for s in spec.statements]
        self.resource = iam.Role(
            self,
            "Role",
            # a function's or state machine's role: its service; a session role: the agent roles named
            assumed_by=assumed_by or iam.ServicePrincipal(service),
            role_name=role_name,
            description=f"Baton {spec.component.value} {spec.name}: statements derived from the catalog",
            inline_policies={"Baton": iam.PolicyDocument(statements=statements)},
        )
        # An immutable reference by ARN: CDK's own grants are dropped, and the consumers depend on the role
        # through the ARN alone (no redundant DependsOn, which cfn-lint reports as W3005).
        self.role = iam.Role.from_role_arn(self, "Reference", self.resource.role_arn, mutable=False)
        self._acknowledge_wildcards(resolve)

    def _acknowledge_wildcards(self, resolve: Resolver) -> None:
        reasons: dict[str, list[str]] = {}
        wildcards: list[str] = []
        for statement in self.spec.statements:
            for ref in statement.resources:
                if isinstance(ref, PlatformRef) and ref.kind is Platform.ANY:
                    reason = f"{statement.sid} ({', '.join(statement.actions)}): {statement.wildcard_reason}"
                    reasons.setdefault("Resource::*", []).append(reason)
                    wildcards.append(reason)
                elif "*" in ref.suffix:
                    base = nag_resource(self, resolve(ref.model_copy(update={"suffix": ""})))
                    reason = (
                        f"{statement.sid}: the function's qualified ARNs (versions and aliases) of "
                        f"{ref.kind.value} {ref.name!r}"
                    )
                    reasons.setdefault(f"Resource::{base}{ref.suffix}", []).append(reason)
        for finding, why in reasons.items():
            acknowledge(self.resource, f"AwsSolutions-IAM5[{finding}]", "; ".join(why))
        if wildcards and self.service == "lambda.amazonaws.com":
            acknowledge(self.resource, "Serverless-LambdaStarPermissions", "; ".join(wildcards))
