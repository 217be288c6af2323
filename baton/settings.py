"""The environment contract between the infrastructure and the Lambda handlers.

CDK sets these variables from the catalog; the offline engine sets the same ones per function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV_STATE_TABLE = "BATON_STATE_TABLE"
ENV_WORKFLOW = "BATON_WORKFLOW"
ENV_AGENT = "BATON_AGENT"
# JSON object: agent name -> function name or ARN (orchestrator)
ENV_AGENT_FUNCTIONS = "BATON_AGENT_FUNCTIONS"
# JSON object: catalog resource name -> physical id (table name, secret ARN, queue URL, topic ARN, parameter name)
ENV_RESOURCES = "BATON_RESOURCES"
# JSON object: workflow name -> state machine ARN (api)
ENV_STATE_MACHINES = "BATON_STATE_MACHINES"
# JSON object: child workflow name -> state machine ARN (the orchestrator of a workflow with children, baton.children)
ENV_CHILD_STATE_MACHINES = "BATON_CHILD_STATE_MACHINES"
ENV_SECRETS_MAX_AGE = "BATON_SECRETS_MAX_AGE_SECONDS"
# the KMS key (ARN) the orchestrator signs its workflow's audit heads with
ENV_AUDIT_KEY = "BATON_AUDIT_KEY"
# the Object Lock bucket the archiver copies audit records into
ENV_ARCHIVE_BUCKET = "BATON_ARCHIVE_BUCKET"
# comma-separated dotted paths of the catalog(s) this function serves (see baton.config)
ENV_CATALOG = "BATON_CATALOG"
# JSON object: workflow name -> dotted path of the catalog declaring it (api: it loads a catalog at the first
# request naming one of its workflows, not every catalog of the app at its cold start; baton.config.WorkflowDirectory)
ENV_WORKFLOW_CATALOGS = "BATON_WORKFLOW_CATALOGS"
# JSON object: tool name -> ARN of the role its STS session assumes (agent functions of tools declaring a session)
ENV_SESSION_ROLES = "BATON_SESSION_ROLES"
# JSON object: catalog resource name -> ARN, for the resources a session policy names
ENV_RESOURCE_ARNS = "BATON_RESOURCE_ARNS"
# every function's environment besides its Settings (CDK sets it; the cold-start bench too): Powertools'
# configuration, and no scan for pydantic plugins (Baton uses none; the scan reads every installed distribution's
# metadata when the first model is built, ~1 ms of each cold start)
RUNTIME_ENV = {
    "POWERTOOLS_SERVICE_NAME": "baton",
    "POWERTOOLS_METRICS_NAMESPACE": "Baton",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}


class SettingsError(RuntimeError):
    """A function was deployed without the configuration it needs (fail at start, not mid-run)."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state_table: str
    catalog: str = ""
    workflow_catalogs: dict[str, str] = Field(default_factory=dict)
    workflow: str | None = None
    agent: str | None = None
    agent_functions: dict[str, str] = Field(default_factory=dict)
    resources: dict[str, str] = Field(default_factory=dict)
    state_machines: dict[str, str] = Field(default_factory=dict)
    child_state_machines: dict[str, str] = Field(default_factory=dict)
    audit_key: str | None = None
    archive_bucket: str | None = None
    secrets_max_age_seconds: int = Field(default=300, ge=0, le=3600)
    session_roles: dict[str, str] = Field(default_factory=dict)
    resource_arns: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def mapping(name: str) -> dict[str, str]:
            raw = env.get(name)
            if not raw:
                return {}
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as error:
                raise SettingsError(f"{name} is not valid JSON: {error}") from None
            if not isinstance(value, dict):
                raise SettingsError(f"{name} must be a JSON object")
            return value

        if not env.get(ENV_STATE_TABLE):
            raise SettingsError(f"{ENV_STATE_TABLE} is not set")
        try:
            return cls(
                state_table=env[ENV_STATE_TABLE],
                catalog=env.get(ENV_CATALOG, ""),
                workflow_catalogs=mapping(ENV_WORKFLOW_CATALOGS),
                workflow=env.get(ENV_WORKFLOW),
                agent=env.get(ENV_AGENT),
                agent_functions=mapping(ENV_AGENT_FUNCTIONS),
                resources=mapping(ENV_RESOURCES),
                state_machines=mapping(ENV_STATE_MACHINES),
                child_state_machines=mapping(ENV_CHILD_STATE_MACHINES),
                audit_key=env.get(ENV_AUDIT_KEY) or None,
                archive_bucket=env.get(ENV_ARCHIVE_BUCKET) or None,
                secrets_max_age_seconds=int(env.get(ENV_SECRETS_MAX_AGE, "300")),
                session_roles=mapping(ENV_SESSION_ROLES),
                resource_arns=mapping(ENV_RESOURCE_ARNS),
            )
        except (ValidationError, ValueError) as error:
            raise SettingsError(f"invalid function configuration: {error}") from None

    def to_env(self) -> dict[str, str]:
        env = {ENV_STATE_TABLE: self.state_table, ENV_SECRETS_MAX_AGE: str(self.secrets_max_age_seconds)}
        if self.catalog:
            env[ENV_CATALOG] = self.catalog
        if self.workflow:
            env[ENV_WORKFLOW] = self.workflow
        if self.agent:
            env[ENV_AGENT] = self.agent
        if self.audit_key:
            env[ENV_AUDIT_KEY] = self.audit_key
        if self.archive_bucket:
            env[ENV_ARCHIVE_BUCKET] = self.archive_bucket
        for name, value in (
            (ENV_WORKFLOW_CATALOGS, self.workflow_catalogs),
            (ENV_AGENT_FUNCTIONS, self.agent_functions),
            (ENV_RESOURCES, self.resources),
            (ENV_STATE_MACHINES, self.state_machines),
            (ENV_CHILD_STATE_MACHINES, self.child_state_machines),
            (ENV_SESSION_ROLES, self.session_roles),
            (ENV_RESOURCE_ARNS, self.resource_arns),
        ):
            if value:
                env[name] = json.dumps(value, sort_keys=True)
        return env
