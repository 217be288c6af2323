"""The offline deployment's functions: their names and the in-process handlers their invocations run.

The one owner of function names offline (the fault injector and the bench ask it), and the one place a
deployed function's Lambda handler path and environment become an in-process handler (the offline engine
and the moto CloudFormation test share it).
"""

from __future__ import annotations

from baton.aws import AwsClients
from baton.functions.agent import handler as agent_handler
from baton.functions.api import handler as api_handler
from baton.functions.archiver import handler as archiver_handler
from baton.functions.orchestrator import handler as orchestrator_handler
from baton.http import HttpTransport
from baton.local import moto_patches
from baton.runtime import build_agent_runner, build_api, build_archiver, build_orchestrator, build_starter

AGENT_HANDLER = "baton.functions.agent.handler.handler"
ORCHESTRATOR_HANDLER = "baton.functions.orchestrator.handler.handler"
API_HANDLER = "baton.functions.api.handler.handler"
ARCHIVER_HANDLER = "baton.functions.archiver.handler.handler"
STARTER_HANDLER = "baton.functions.starter.handler.handler"
API_FUNCTION = "baton-api"
_AGENT_PREFIX = "baton-agent-"
_ORCHESTRATOR_PREFIX = "baton-orchestrator-"
_STARTER_PREFIX = "baton-starter-"


def agent_function_name(agent: str) -> str:
    return f"{_AGENT_PREFIX}{agent}".replace("_", "-")


def orchestrator_function_name(workflow: str) -> str:
    return f"{_ORCHESTRATOR_PREFIX}{workflow}"


def starter_function_name(workflow: str) -> str:
    """A subscribing workflow's starter function (baton.triggers)."""
    return f"{_STARTER_PREFIX}{workflow}"


def agent_of(function_name: str) -> str | None:
    """The agent an offline function serves (None for the orchestrators and the API)."""
    if not function_name.startswith(_AGENT_PREFIX):
        return None
    return function_name.removeprefix(_AGENT_PREFIX).replace("-", "_")


def workflow_of(function_name: str) -> str | None:
    """The workflow whose orchestrator an offline function is (None for the agents and the API)."""
    if not function_name.startswith(_ORCHESTRATOR_PREFIX):
        return None
    return function_name.removeprefix(_ORCHESTRATOR_PREFIX)


def model_key(function_name: str) -> str:
    """Whose model double answers an offline function's Converse calls: its agent's name, or "planner:<workflow>"
    for a workflow's orchestrator (its planner's); another function's own name."""
    agent = agent_of(function_name)
    if agent is not None:
        return agent
    workflow = workflow_of(function_name)
    return function_name if workflow is None else f"planner:{workflow}"


def in_process_handler(
    handler_path: str, env: dict[str, str], clients: AwsClients, http: HttpTransport
) -> moto_patches.Handler:
    """What a deployed function with this Lambda handler and environment runs, built to run in-process."""
    if handler_path == AGENT_HANDLER:
        runner = build_agent_runner(env, clients, http)
        return lambda event: agent_handler.handle(event, runner)
    if handler_path == ORCHESTRATOR_HANDLER:
        orchestrator = build_orchestrator(env, clients)
        return lambda event: orchestrator_handler.handle(event, orchestrator)
    if handler_path == API_HANDLER:
        services = build_api(env, clients)
        return lambda event: api_handler.handle(event, services)
    if handler_path == STARTER_HANDLER:
        # here, not at the top: its batch utility (powertools) costs ~20 ms of import, for triggered workflows only
        from baton.functions.starter import handler as starter_handler

        starter = build_starter(env, clients)
        return lambda event: starter_handler.handle(event, starter)
    if handler_path == ARCHIVER_HANDLER:  # deployed by the stack; offline, moto's streams do not reach it
        archiver = build_archiver(env, clients)
        return lambda event: archiver_handler.handle(event, archiver)
    raise ValueError(f"no in-process handler for {handler_path!r}")
