"""The cross-bu-reporting app's IAM: every role derived from its catalogs, the peer's trust policy included.

Business unit B's peer_sales agent may assume exactly A's cross-account role and read exactly its external id
secret; A's cross-account role trusts exactly B's declared principal, only with the external id, and may only
start and read A's sales-summary runs through A's API. The synthesized template holds those derived documents as
they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from baton.catalog import PeerSpec, PeerTrust, SideEffect, ToolSpec
from baton.federation import PeerRunArgs
from baton.iam import Platform, PlatformRef, agent_role, all_roles, peer_role_policy, peer_trust_policy
from baton.rule_of_two import classify_all
from baton.testing.cloudformation import Synthesized, synthesize
from cross_bu_reporting_app.catalog import (
    BU_A_API_HOST,
    BU_A_API_URL,
    BU_A_CATALOG,
    BU_B_CALLER_ROLE,
    BU_B_CATALOG,
    CATALOG,
    EXTERNAL_ID,
    PEER_ROLE_ARN,
    PEER_ROLE_NAME,
)
from cross_bu_reporting_app.models import SalesSummary
from cross_bu_reporting_app.names import EXTERNAL_ID_SECRET


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("cross_bu_reporting_app.catalog:CATALOG", Path(tmp_path_factory.mktemp("xbu.cdk.out")))


def test_trust_policy_with_sts_external_id_is_derived_from_the_trust() -> None:
    (trust,) = BU_A_CATALOG.workflows["sales-summary"].trusted_peers
    assert peer_trust_policy(trust) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [BU_B_CALLER_ROLE]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
            }
        ],
    }


def test_peer_role_may_start_and_read_only_its_workflows_runs() -> None:
    policy = peer_role_policy("sales-summary", lambda method, path: f"api/v1/{method}{path}")
    (statement,) = policy["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == ["api/v1/POST/workflows/sales-summary/runs", "api/v1/GET/runs/sales-summary_*"]


def test_consumer_agent_may_assume_exactly_the_peers_role() -> None:
    role = agent_role(BU_B_CATALOG, BU_B_CATALOG.agents["peer_sales"])
    by_sid = {s.sid: s for s in role.statements}
    assume = by_sid["AssumePeerFetchBuASummary"]
    assert assume.actions == ("sts:AssumeRole",)
    assert assume.resources == (PlatformRef(kind=Platform.PEER_ROLE, name=PEER_ROLE_ARN),)
    tool_actions = sorted(a for s in role.statements if s.sid.startswith("Tool") for a in s.actions)
    assert tool_actions == ["secretsmanager:GetSecretValue"]  # its external id, nothing else
    # no other agent of either unit may assume anything
    for catalog in (BU_A_CATALOG, BU_B_CATALOG):
        for agent in catalog.agents.values():
            if agent.name != "peer_sales":
                assert all("sts:AssumeRole" not in s.actions for s in agent_role(catalog, agent).statements)


def test_every_role_is_derived_from_the_catalogs() -> None:
    """Each role's statements are the ones baton.iam derives; the merged catalog's roles are both units' roles."""
    merged = {(r.component, r.name): r for r in all_roles(CATALOG)}
    for catalog in (BU_A_CATALOG, BU_B_CATALOG):
        for role in all_roles(catalog):
            if role.name == "api":
                continue  # one API per deployment: the merged one serves both workflows
            assert merged[role.component, role.name] == role


def test_template_roles_are_the_derived_ones(synthesized: Synthesized) -> None:
    roles = synthesized.resources("AWS::IAM::Role")
    (peer,) = [r for r in roles.values() if r["Properties"].get("RoleName") == PEER_ROLE_NAME]
    (trust,) = BU_A_CATALOG.workflows["sales-summary"].trusted_peers
    assert peer["Properties"]["AssumeRolePolicyDocument"] == peer_trust_policy(trust)
    (policy,) = peer["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    routes = [json.dumps(resource) for resource in statement["Resource"]]
    assert routes[0].endswith('/POST/workflows/sales-summary/runs"]]}')
    assert routes[1].endswith('/GET/runs/sales-summary_*"]]}')
    # the consuming agent's role assumes exactly that role
    agent_statements = [
        s
        for r in roles.values()
        for p in r["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Action") == "sts:AssumeRole"
    ]
    assert agent_statements == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": PEER_ROLE_ARN, "Sid": "AssumePeerFetchBuASummary"}
    ]


def test_rule_of_two_holds_for_both_units() -> None:
    classes = {name: r.classes for name, r in classify_all(CATALOG).items()}
    assert classes["peer_sales"] == "AC"  # untrusted answer, egress: no sensitive data
    assert classes["consolidation"] == "B"  # the peer's summary admits constrained values only


def _peer_tool(**changes: Any) -> ToolSpec:
    fields: dict[str, Any] = {
        "name": "fetch",
        "description": "calls a peer",
        "implementation": "baton.federation:call_peer",
        "arguments": PeerRunArgs,
        "side_effect": SideEffect.READ,
        "secrets": (EXTERNAL_ID_SECRET,),
        "egress": (BU_A_API_HOST,),
        "peer": PeerSpec(
            api_url=BU_A_API_URL,
            workflow="sales-summary",
            role_arn=PEER_ROLE_ARN,
            external_id_secret=EXTERNAL_ID_SECRET,
            result_model=SalesSummary,
        ),
    }
    return ToolSpec(**(fields | changes))


def test_a_peer_tool_must_declare_its_egress_secret_and_untrusted_output() -> None:
    _peer_tool()  # as declared: accepted
    with pytest.raises(ValidationError, match="peer API's origin must be in its egress"):
        _peer_tool(egress=("elsewhere.example",))
    with pytest.raises(ValidationError, match="external id secret"):
        _peer_tool(secrets=())
    with pytest.raises(ValidationError, match="never trusted"):
        _peer_tool(output_trusted=True)


def test_declarations_refuse_what_aws_would() -> None:
    with pytest.raises(ValidationError):
        PeerTrust(role_name="r", principals=("arn:aws:iam::222222222222:user/*",), external_id=EXTERNAL_ID)
    with pytest.raises(ValidationError):
        PeerTrust(role_name="r", principals=(BU_B_CALLER_ROLE,), external_id="x")  # shorter than STS allows
    with pytest.raises(ValidationError):
        PeerSpec(
            api_url="http://plain.example",  # a peer is reached over https only
            workflow="sales-summary",
            role_arn=PEER_ROLE_ARN,
            external_id_secret=EXTERNAL_ID_SECRET,
            result_model=SalesSummary,
        )
