"""`baton inventory` (baton.inventory): the catalog against the synthesized template and against the stack deployed
into moto's CloudFormation; no drift on any example app, and each drift an attacker or a hand edit could introduce
named, with the agent, function and statement it concerns.

The drifted templates are copies of the test app's synthesized template (the session's `synthesized` fixture),
edited as someone with access to the template or the account would: a statement added to an agent's role, a
function added outside the catalog, an agent's function removed, an environment naming a resource, a secret made
readable.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from baton.catalog import AgentSpec, McpToolRef, SideEffect, build_catalog
from baton.cli import main
from baton.inventory import DriftKind, Inventory, inventory_of, read_template, render_table, stack_view
from baton.mcp import mcp_tool, pin_sha256
from baton.testing.cloudformation import Deployment, Synthesized, deploy, synthesize
from tests.infra.helpers import TEST_CATALOG_PATH, function_role, functions_by_env
from tests.testapp.models import ItemFound, ReaderInput

Template = dict[str, Any]
EXAMPLES = {
    "refund": "refund_app.catalog:CATALOG",
    "support-triage": "support_triage_app.catalog:CATALOG",
    "compliance-review": "compliance_review_app.catalog:CATALOG",
    "threat-intel": "threat_intel_app.catalog:CATALOG",
    "it-ops": "it_ops_app.catalog:CATALOG",
    "security-alerting": "security_alerting_app.catalog:CATALOG",
    "cross-bu-reporting": "cross_bu_reporting_app.catalog:CATALOG",
}


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """Each example app synthesized as `cdk synth` would (stack "Baton")."""
    return {name: synthesize(path, tmp_path_factory.mktemp(f"{name}.cdk.out")) for name, path in EXAMPLES.items()}


def inventory(synthesized: Synthesized, template: Template | None = None) -> Inventory:
    view = read_template(template or synthesized.template, source="template under test", stack_name="Baton")
    return inventory_of(synthesized.catalog, view)


def drift_of(found: Inventory, kind: DriftKind) -> list[dict[str, Any]]:
    return [d.model_dump(mode="json") for d in found.drift if d.kind is kind]


# ---------------------------------------------------------------- the template, by hand


def agent_function(template: Template, agent: str) -> str:
    return functions_by_env(template, "BATON_AGENT")[agent]


def agent_statements(template: Template, agent: str) -> list[dict[str, Any]]:
    role = template["Resources"][function_role(template, agent_function(template, agent))]
    statements: list[dict[str, Any]] = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return statements


def resource_id(synthesized: Synthesized, kind: str, name: str) -> str:
    return synthesized.logical_id(getattr(synthesized.stack.resources, kind)[name])


def arn_of(synthesized: Synthesized, kind: str, name: str) -> dict[str, Any]:
    logical_id = resource_id(synthesized, kind, name)
    return {"Ref": logical_id} if kind == "secrets" else {"Fn::GetAtt": [logical_id, "Arn"]}


def edited(synthesized: Synthesized, edit: Callable[[Template, Synthesized], None]) -> Template:
    template = copy.deepcopy(synthesized.template)
    edit(template, synthesized)
    return template


# ---------------------------------------------------------------- no drift


@pytest.mark.parametrize("app", [*EXAMPLES, "test app"])
def test_inventory_json_passes_on_every_example_app(
    app: str,
    examples: dict[str, Synthesized],
    synthesized: Synthesized,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the app's synthesized template (cdk.out) and its catalog
    target = synthesized if app == "test app" else examples[app]
    catalog = TEST_CATALOG_PATH if app == "test app" else EXAMPLES[app]
    template = target.outdir / "Baton.template.json"
    # When `baton inventory --json` compares them
    code = main(["--catalog", catalog, "inventory", "--template", str(template), "--json"])
    document = json.loads(capsys.readouterr().out)
    # Then there is no drift, and every agent and workflow of the catalog is there with its function
    assert document["drift"] == []
    assert code == 0
    assert [a["name"] for a in document["agents"]] == list(target.catalog.agents)
    assert all(a["function"] for a in document["agents"])
    assert [w["name"] for w in document["workflows"]] == list(target.catalog.workflows)
    assert all(w["orchestrator"] for w in document["workflows"])


def test_the_json_has_one_object_per_agent_with_its_tools_actions_resources_secrets_and_egress(
    examples: dict[str, Synthesized], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the refund app's template / When `baton inventory --json` reads it
    template = examples["refund"].outdir / "Baton.template.json"
    main(["--catalog", EXAMPLES["refund"], "inventory", "--template", str(template), "--json"])
    document = json.loads(capsys.readouterr().out)
    agents = {agent["name"]: agent for agent in document["agents"]}
    # Then each agent is one object with at least its name, tools, IAM actions, resources, secrets and egress
    for agent in agents.values():
        assert {"name", "tools", "iam_actions", "resources", "secrets", "egress"} <= set(agent)
    payment = agents["payment_reversal"]
    assert [(t["name"], t["side_effect"], t["output_trusted"]) for t in payment["tools"]] == [
        ("refund_payment", "irreversible", False)
    ]
    assert "secretsmanager:GetSecretValue" in payment["iam_actions"]
    assert payment["secrets"] == ["payment_api_key"]
    assert payment["egress"] == ["payments.example.com"]
    by_resource = {p["resource"]: p for p in payment["resources"]}
    assert by_resource["secret payment_api_key"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert by_resource["secret payment_api_key"]["declared"] is True
    assert payment["policies"] == "refund_app:policies.cedar"
    assert payment["rule_of_two_summary"] == "AC"
    # its tools' grants first, as derived (then its own log group and tracing)
    assert [p["resource"] for p in agents["order_lookup"]["resources"]] == ["table orders", "own log group", "*"]
    # and each workflow with its agents, planner kind and execution type
    (workflow,) = document["workflows"]
    assert (workflow["planner_kind"], workflow["execution"]) == ("rule", "standard")


def test_a_model_backed_agent_and_a_model_planner_name_their_models(examples: dict[str, Synthesized]) -> None:
    # Given the support-triage app (a model-backed agent, a model planner) / When it is inventoried
    found = inventory(examples["support-triage"])
    faq = next(a for a in found.agents if a.name == "faq")
    (workflow,) = found.workflows
    # Then the agent names its model, and its role's bedrock grant is on exactly that model, declared
    assert faq.model == "amazon.nova-lite-v1:0"
    assert [(p.resource, p.actions, p.declared) for p in faq.resources if p.resource.startswith("model")] == [
        ("model amazon.nova-lite-v1:0", ["bedrock:InvokeModel"], True)
    ]
    assert (workflow.planner_kind, workflow.planner_model) == ("model", "us.anthropic.claude-3-5-haiku-20241022-v1:0")


def test_an_agent_declared_but_not_deployed_is_drift_and_its_mcp_server_is_listed(synthesized: Synthesized) -> None:
    # Given the test app's catalog plus an agent whose one tool is a remote MCP server's (pinned), and the template
    # synthesized before that agent was declared
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    ref = McpToolRef(
        server_url="https://docs.example.com/mcp",
        tool="search",
        description="search the docs",
        input_schema=schema,
        pinned_sha256=pin_sha256("search", "search the docs", schema),
    )
    tool = mcp_tool(name="search_docs", description="search the docs", side_effect=SideEffect.READ, ref=ref)
    researcher = AgentSpec(
        name="researcher",
        description="reads the docs",
        implementation="tests.testapp.agents:reader",
        input_model=ReaderInput,
        output_model=ItemFound,
        tools=("search_docs",),
    )
    base = synthesized.catalog
    catalog = build_catalog(
        resources=list(base.resources.values()),
        tools=[*base.tools.values(), tool],
        agents=[*base.agents.values(), researcher],
        workflows=list(base.workflows.values()),
    )
    # When it is inventoried
    found = inventory_of(catalog, read_template(synthesized.template, source="template", stack_name="Baton"))
    # Then the agent without a function is the one drift, and its entry names the MCP server, the tool and its pin
    assert [(d.kind, d.agent) for d in found.drift] == [(DriftKind.AGENT_WITHOUT_FUNCTION, "researcher")]
    entry = next(a for a in found.agents if a.name == "researcher")
    assert entry.mcp_servers == ["https://docs.example.com/mcp"]
    (listed,) = entry.tools
    assert listed.mcp is not None
    assert (listed.mcp.tool, listed.mcp.pinned_sha256, listed.output_trusted) == ("search", ref.pinned_sha256, False)
    assert entry.egress == ["docs.example.com"]


# ---------------------------------------------------------------- drift


def _new_statement(template: Template, synthesized: Synthesized) -> None:
    statement = {"Sid": "HandAdded", "Effect": "Allow", "Action": "dynamodb:PutItem"}
    agent_statements(template, "reader").append({**statement, "Resource": arn_of(synthesized, "tables", "items")})


def _action_added_to_a_derived_statement(template: Template, synthesized: Synthesized) -> None:
    statement = next(s for s in agent_statements(template, "reader") if s["Sid"] == "ToolReadItem0")
    statement["Action"] = [statement["Action"], "dynamodb:PutItem"]


def _separate_policy_on_the_role(template: Template, synthesized: Synthesized) -> None:
    role = function_role(template, agent_function(template, "reader"))
    put = {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": arn_of(synthesized, "tables", "items")}
    template["Resources"]["HandAdded"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "extra",
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [put],
            },
        },
    }


@pytest.mark.attack("ASI03", "ASI10")
@pytest.mark.parametrize(
    ("edit", "statement"),
    [
        (_new_statement, "HandAdded"),
        (_action_added_to_a_derived_statement, "ToolReadItem0"),
        (_separate_policy_on_the_role, "AWS::IAM::Policy HandAdded"),
    ],
)
def test_a_statement_added_by_hand_to_an_agent_role_is_drift(
    synthesized: Synthesized, edit: Callable[[Template, Synthesized], None], statement: str
) -> None:
    # Given the test app's template with dynamodb:PutItem on the items table added to the reader's role by hand
    # When it is inventoried
    found = inventory(synthesized, edited(synthesized, edit))
    # Then that statement is drift, named with its agent, function and the grant no tool declares
    (drift,) = drift_of(found, DriftKind.UNDECLARED_STATEMENT)
    assert drift["agent"] == "reader"
    assert drift["function"] == agent_function(synthesized.template, "reader")
    assert drift["statement"].endswith(statement) or drift["statement"] == statement
    assert "dynamodb:PutItem on table items" in drift["message"]
    assert not found.ok
    # and the grant is listed as the reader's, undeclared
    reader = next(a for a in found.agents if a.name == "reader")
    assert [p.actions for p in reader.resources if not p.declared] == [["dynamodb:PutItem"]]


def _function(environment: dict[str, Any]) -> Callable[[Template, Synthesized], None]:
    def add(template: Template, synthesized: Synthesized) -> None:
        reader = template["Resources"][agent_function(template, "reader")]
        intruder = copy.deepcopy(reader)
        intruder["Properties"]["Environment"]["Variables"] = environment
        template["Resources"]["Intruder"] = intruder

    return add


@pytest.mark.attack("ASI03", "ASI10")
@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (_function({"MODE": "debug"}), "declared by no agent or workflow"),
        (_function({"BATON_AGENT": "ghost"}), "runs agent 'ghost', which the catalog does not declare"),
        (_function({"BATON_AGENT": "reader"}), "a second function of agent 'reader'"),
        (_function({"BATON_WORKFLOW": "shadow"}), "orchestrates workflow 'shadow'"),
    ],
    ids=["no-declaration", "unknown-agent", "second-function", "unknown-workflow"],
)
def test_a_function_added_outside_the_catalog_is_drift(
    synthesized: Synthesized, edit: Callable[[Template, Synthesized], None], said: str
) -> None:
    # Given a Lambda function added to the template outside the catalog (the reader's code and role, reused)
    # When the template is inventoried
    found = inventory(synthesized, edited(synthesized, edit))
    # Then the function is drift, named
    (drift,) = drift_of(found, DriftKind.FUNCTION_OUTSIDE_CATALOG)
    assert drift["function"] == "Intruder"
    assert said in drift["message"]
    assert not found.ok


@pytest.mark.attack("ASI03")
def test_an_agent_whose_function_was_removed_is_drift(synthesized: Synthesized) -> None:
    # Given the template without the scorer's function / When it is inventoried
    def remove(template: Template, _: Synthesized) -> None:
        del template["Resources"][agent_function(template, "scorer")]

    found = inventory(synthesized, edited(synthesized, remove))
    # Then the agent is drift: it has no function
    assert [(d.kind, d.agent) for d in found.drift] == [(DriftKind.AGENT_WITHOUT_FUNCTION, "scorer")]
    scorer = next(a for a in found.agents if a.name == "scorer")
    assert (scorer.function, scorer.iam_actions) == (None, [])
    table = render_table(found).splitlines()
    row = next(i for i, line in enumerate(table) if line.startswith("scorer "))
    assert table[row + 1].strip().startswith("(no function)")


def _resources_variable_names_the_outbox(template: Template, synthesized: Synthesized) -> None:
    variables = template["Resources"][agent_function(template, "reader")]["Properties"]["Environment"]["Variables"]
    outbox = {"Ref": resource_id(synthesized, "queues", "outbox")}
    variables["BATON_RESOURCES"]["Fn::Join"][1][-1:-1] = ['", "outbox": "', outbox]


def _another_variable_names_a_secret(template: Template, synthesized: Synthesized) -> None:
    variables = template["Resources"][agent_function(template, "reader")]["Properties"]["Environment"]["Variables"]
    variables["BANK"] = {"Ref": resource_id(synthesized, "secrets", "bank_key")}


@pytest.mark.attack("ASI03")
@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (_resources_variable_names_the_outbox, "BATON_RESOURCES names queue 'outbox'"),
        (_another_variable_names_a_secret, "variable BANK names AWS::SecretsManager::Secret"),
    ],
    ids=["BATON_RESOURCES", "another-variable"],
)
def test_an_environment_naming_a_resource_the_agents_tools_do_not_reference_is_drift(
    synthesized: Synthesized, edit: Callable[[Template, Synthesized], None], said: str
) -> None:
    # Given the reader's environment naming a resource none of its tools references (the outbox queue, a secret)
    # When the template is inventoried
    found = inventory(synthesized, edited(synthesized, edit))
    # Then it is drift, naming the agent, its function and the variable
    (drift,) = drift_of(found, DriftKind.ENVIRONMENT_NAMES_UNDECLARED_RESOURCE)
    assert (drift["agent"], drift["function"]) == ("reader", agent_function(synthesized.template, "reader"))
    assert said in drift["message"]
    assert [d.kind for d in found.drift] == [DriftKind.ENVIRONMENT_NAMES_UNDECLARED_RESOURCE]


def _statement_on(resource: Any, action: str = "secretsmanager:GetSecretValue", **more: Any) -> Any:
    def add(template: Template, synthesized: Synthesized) -> None:
        target = resource(synthesized) if callable(resource) else resource
        statement = {"Sid": "Peek", "Effect": "Allow", "Action": action, "Resource": target, **more}
        agent_statements(template, "rater").append(statement)

    return add


@pytest.mark.attack("ASI03")
@pytest.mark.parametrize(
    ("edit", "outside"),
    [
        (_statement_on(lambda s: arn_of(s, "secrets", "bank_key")), False),
        (_statement_on("arn:aws:secretsmanager:*:*:secret:*", action="secretsmanager:Get*"), True),
        (_statement_on("*", action="kms:Decrypt"), None),
    ],
    ids=["the-other-agents-secret", "a-wildcard-over-secrets", "unrelated-action"],
)
def test_a_secret_readable_by_an_agent_that_does_not_declare_it_is_drift(
    synthesized: Synthesized, edit: Callable[[Template, Synthesized], None], outside: bool | None
) -> None:
    # Given the rater's role (its tool declares ratings_key) also allowed to read the payer's bank_key, or every
    # secret through wildcards; and, as a control, an unrelated action on "*"
    found = inventory(synthesized, edited(synthesized, edit))
    secrets = drift_of(found, DriftKind.SECRET_READABLE)
    # Then the statement is drift, and so is each secret it lets the rater read that its tools do not declare
    assert [d["statement"] for d in drift_of(found, DriftKind.UNDECLARED_STATEMENT)] == ["Peek"]
    if outside is None:
        assert secrets == []
        return
    assert all((d["agent"], d["statement"]) == ("rater", "Peek") for d in secrets)
    assert any("secret 'bank_key', which none of its tools declares" in d["message"] for d in secrets)
    assert not any("'ratings_key'" in d["message"] for d in secrets)
    assert any("secrets outside the catalog" in d["message"] for d in secrets) is outside


@pytest.mark.attack("ASI03")
def test_a_statement_removed_from_a_role_and_an_unreadable_policy_are_drift(synthesized: Synthesized) -> None:
    # Given the notifier's tool statement removed, and the payer's role given an AWS managed policy
    def edit(template: Template, _: Synthesized) -> None:
        statements = agent_statements(template, "notifier")
        statements[:] = [s for s in statements if not s["Sid"].startswith("Tool")]
        role = function_role(template, agent_function(template, "payer"))
        template["Resources"][role]["Properties"]["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]

    found = inventory(synthesized, edited(synthesized, edit))
    # Then the missing grant is drift, and so is the policy the inventory cannot compare (fail closed)
    (missing,) = drift_of(found, DriftKind.MISSING_STATEMENT)
    assert (missing["agent"], missing["statement"]) == ("notifier", "ToolSendNote0")
    assert "sqs:SendMessage on queue outbox" in missing["message"]
    (attached,) = drift_of(found, DriftKind.UNDECLARED_STATEMENT)
    assert attached["agent"] == "payer"
    assert "AdministratorAccess" in attached["message"]


# ---------------------------------------------------------------- the command


def test_the_command_exits_1_listing_each_drift_in_one_line(
    synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a drifted template in a file (a statement added by hand, a function added outside the catalog)
    template = edited(synthesized, _new_statement)
    _function({"MODE": "debug"})(template, synthesized)
    path = tmp_path / "Baton.template.json"
    path.write_text(json.dumps(template))
    # When `baton inventory --template` reads it
    code = main(["--catalog", TEST_CATALOG_PATH, "inventory", "--template", str(path)])
    out = capsys.readouterr().out
    # Then it prints the table, then each drift on one line, and exits 1
    assert code == 1
    drift_lines = [line for line in out.splitlines() if line.startswith("drift: ")]
    assert [line.split(":")[1].strip() for line in drift_lines] == [
        "function_outside_catalog",
        "undeclared_statement",
    ]
    assert "dynamodb:PutItem on table items  [UNDECLARED]" in out
    assert out.splitlines()[-1] == "2 drifts"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--template", "missing.template.json"], "template 'missing.template.json' does not exist"),
        (["--template", "{tmp}/bad.json"], "is not valid JSON"),
        (["--template", "{tmp}/list.json"], "is not a CloudFormation template"),
        (["--template", "{tmp}/odd.json"], "is not a template Baton can read"),
        (["--template", "{tmp}"], "is a folder: name one of its *.template.json files"),
        (["--template", "x.json", "--stack", "Baton"], "not allowed with argument"),
    ],
    ids=["missing", "not-json", "not-a-template", "odd-shapes", "a-folder", "two-sources"],
)
def test_bad_input_is_one_line_and_exit_2(
    arguments: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a missing or malformed template, or two sources at once
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[]")
    odd = {"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": 1}}}
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    # When `baton inventory` is asked to read it
    with pytest.raises(SystemExit) as exit_info:
        main(["--catalog", TEST_CATALOG_PATH, "inventory", *(a.format(tmp=tmp_path) for a in arguments)])
    # Then it says what is wrong in one line on stderr, with exit code 2
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1
    assert said in err


# ---------------------------------------------------------------- the deployed stack


@pytest.fixture(scope="module")
def deployment(synthesized: Synthesized) -> Iterator[Deployment]:
    with deploy(synthesized, run_fixtures=False) as deployed:
        yield deployed


def test_the_stack_deployed_into_moto_has_no_drift(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the test app's template deployed into moto's CloudFormation
    # When `baton inventory --stack` reads it through CloudFormation, Lambda and IAM
    code = main(["--catalog", TEST_CATALOG_PATH, "inventory", "--stack", deployment.stack_name, "--json"])
    document = json.loads(capsys.readouterr().out)
    # Then there is no drift, and each agent names its deployed function and role, its grants on real ARNs
    assert (code, document["drift"]) == (0, [])
    payer = next(a for a in document["agents"] if a["name"] == "payer")
    assert payer["function_name"] == deployment.function(agent="payer")
    assert deployment.role_arn(payer["function_name"]).endswith("/" + payer["role"])
    bank = next(p for p in payer["resources"] if p["resource"] == "secret bank_key")
    assert bank["arn"] == deployment.physical_ids["bank_key"]
    assert document["source"].startswith(f"stack {deployment.stack_name} (arn:aws:cloudformation:")


@pytest.mark.attack("ASI03", "ASI10")
def test_a_statement_put_on_a_deployed_agent_role_is_drift(deployment: Deployment) -> None:
    # Given the rater's deployed role given the payer's bank_key secret with iam put_role_policy
    iam = deployment.clients.client("iam")
    role = deployment.role_arn(deployment.function(agent="rater")).rsplit("/", 1)[-1]
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [{"Sid": "Peek", **statement}]}
    iam.put_role_policy(RoleName=role, PolicyName="HandAdded", PolicyDocument=json.dumps(document))
    try:
        # When the stack is inventoried
        found = inventory_of(deployment.catalog, stack_view(deployment.stack_name, deployment.clients))
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="HandAdded")
    # Then the statement is drift on the rater, and so is every secret it now reads undeclared
    (undeclared,) = drift_of(found, DriftKind.UNDECLARED_STATEMENT)
    assert (undeclared["agent"], undeclared["statement"]) == ("rater", "Peek")
    assert "secretsmanager:GetSecretValue on *" in undeclared["message"]
    assert "inline policy HandAdded" in undeclared["message"]
    secrets = [d["message"] for d in drift_of(found, DriftKind.SECRET_READABLE)]
    assert any("secret 'bank_key'" in m for m in secrets)
    assert any("secrets outside the catalog (*)" in m for m in secrets)
    assert {d.agent for d in found.drift} == {"rater"}


def test_an_unknown_stack_is_one_line_and_exit_2(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    # Given no stack of that name / When `baton inventory --stack` asks for it
    with pytest.raises(SystemExit) as exit_info:
        main(["--catalog", TEST_CATALOG_PATH, "inventory", "--stack", "NoSuchStack"])
    # Then one line, exit 2
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("baton: error: cannot read stack 'NoSuchStack':")
    assert len(err.strip().splitlines()) == 1
