"""The one way Baton talks to a model: Bedrock Converse, through an allowance checked before every call.

An allowance is what one caller (an agent's task, or a planner's decision) may still spend of its run's model
budget: calls, input tokens, output tokens. It is checked before each call (fail closed: no call is made once
any part is spent) and each response's `usage` is counted against it, from Converse's own figures.
"""

from __future__ import annotations

from typing import Any

from baton.catalog import ModelSpec
from baton.task_models import ModelAllowance, ModelUsage
from baton.tools import AgentError


class ModelBudgetExhausted(AgentError):
    """A run's model budget (calls, input or output tokens) is spent; the message names which."""


class ModelGateway:
    def __init__(self, bedrock_runtime: Any, spec: ModelSpec, allowance: ModelAllowance) -> None:
        self._bedrock = bedrock_runtime
        self.spec = spec
        self.allowance = allowance
        self.usage = ModelUsage()

    def remaining(self) -> ModelAllowance:
        return ModelAllowance(
            calls=self.allowance.calls - self.usage.calls,
            input_tokens=self.allowance.input_tokens - self.usage.input_tokens,
            output_tokens=self.allowance.output_tokens - self.usage.output_tokens,
        )

    def converse(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Converse call; raises ModelBudgetExhausted, before calling, if the allowance is spent."""
        left = self.remaining()
        for name in ("calls", "input_tokens", "output_tokens"):
            if getattr(left, name) <= 0:
                raise ModelBudgetExhausted(f"model budget exhausted: {name} ({getattr(self.allowance, name)} allowed)")
        request: dict[str, Any] = {
            "modelId": self.spec.model_id,
            "system": [{"text": system}],
            "messages": messages,
            "inferenceConfig": {
                "maxTokens": min(self.spec.max_tokens, left.output_tokens),
                "temperature": self.spec.temperature,
            },
        }
        if tools:
            request["toolConfig"] = {"tools": tools, "toolChoice": tool_choice or {"auto": {}}}
        if self.spec.guardrail_id is not None:
            request["guardrailConfig"] = {
                "guardrailIdentifier": self.spec.guardrail_id,
                "guardrailVersion": self.spec.guardrail_version,
                "trace": "disabled",
            }
        response: dict[str, Any] = self._bedrock.converse(**request)
        usage = response.get("usage", {})
        self.usage = ModelUsage(
            calls=self.usage.calls + 1,
            input_tokens=self.usage.input_tokens + int(usage.get("inputTokens", 0)),
            output_tokens=self.usage.output_tokens + int(usage.get("outputTokens", 0)),
        )
        return response
