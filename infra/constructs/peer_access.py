"""The providing side of the federated pattern: one cross-account role per `PeerTrust` of a workflow.

Its trust policy is baton.iam.peer_trust_policy (exactly the declared principals, sts:AssumeRole only, with the
condition sts:ExternalId), its permissions baton.iam.peer_role_policy (execute-api:Invoke on this workflow's start
and run routes of this stack's API). Both are written into the template as derived, never reshaped by CDK. The
role lives in the providing account, so API Gateway's IAM authorization admits its sessions by this policy alone,
and the API function authorizes each run by the session's principal (the role).
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from baton.catalog import PeerTrust, WorkflowSpec
from baton.iam import peer_role_policy, peer_trust_policy
from baton.infra.constructs.nag import acknowledge, nag_resource


class PeerAccessRole(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, workflow: WorkflowSpec, trust: PeerTrust, api: apigw.RestApi
    ) -> None:
        super().__init__(scope, construct_id)
        stage = api.deployment_stage.stage_name
        routes: dict[tuple[str, str], str] = {}

        def route(method: str, path: str) -> str:
            routes[method, path] = api.arn_for_execute_api(method, path, stage)
            return routes[method, path]

        policy = peer_role_policy(workflow.name, route)
        self.role = iam.CfnRole(
            self,
            "Role",
            role_name=trust.role_name,
            description=f"Baton peer access to workflow {workflow.name}: trust and permissions from its catalog",
            assume_role_policy_document=peer_trust_policy(trust),
            max_session_duration=3600,
            policies=[iam.CfnRole.PolicyProperty(policy_name="Baton", policy_document=policy)],
        )
        runs = routes["GET", f"/runs/{workflow.name}_*"]
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{nag_resource(self.role, runs)}]",
            f"GET /runs/{workflow.name}_*: a run's id is only known once the peer started it; the wildcard keeps "
            "to this workflow's runs, and the API shows a run only to the principal that started it",
        )
