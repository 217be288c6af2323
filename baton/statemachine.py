"""The orchestration state machine definition, shared by CDK and the offline engine.

It ships as package data (`baton/statemachines/`), found with importlib.resources wherever Baton is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from importlib.resources import files
from pathlib import Path

# package data on disk wherever Baton is installed (a wheel, an editable install, a Lambda asset)
DEFINITION_FILE = Path(str(files("baton").joinpath("statemachines", "orchestration.asl.json")))


# the states only a Standard execution may hold: an Express state machine refuses `.waitForTaskToken`
STANDARD_ONLY_STATES = ("AwaitApproval",)
# ... and `.sync:2`: the Map's states that start a child workflow's execution (an Express workflow declares no children,
# see baton.children), with the state that leads to them and where it goes instead
CHILD_STATES = ("Dispatch", "ReadChild", "StartChild", "ChildEnded")


def definition_text(execution: str = "standard", path: Path = DEFINITION_FILE) -> str:
    """The definition for a workflow's execution type: the file itself for Standard; for Express, the file without
    the approval wait (an Express workflow may not declare approvals, so its orchestrator never routes there)."""
    text = path.read_text()
    if execution != "express":
        return text
    definition = json.loads(text)
    states = definition["States"]
    for name in STANDARD_ONLY_STATES:
        states.pop(name, None)
    for state in states.values():
        if state.get("Type") == "Choice":
            state["Choices"] = [c for c in state["Choices"] if c.get("Next") not in STANDARD_ONLY_STATES]
        inner = state.get("ItemProcessor", {}).get("States", {})
        if "Dispatch" in inner:
            default = inner["Dispatch"]["Default"]
            for name in CHILD_STATES:
                inner.pop(name, None)
            for item_state in inner.values():
                if item_state.get("Next") == "Dispatch":
                    item_state["Next"] = default
    return json.dumps(definition, indent=2) + "\n"


def definition_file(execution: str = "standard") -> Path:
    """A file holding the definition for a workflow's execution type (what CDK ships as the asset): the packaged
    file for Standard; for Express, that text written once to a temporary folder, named after its hash."""
    if execution != "express":
        return DEFINITION_FILE
    text = definition_text(execution)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "baton-definitions" / digest / "orchestration-express.asl.json"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(text)
        partial.replace(path)  # whole or not at all, whoever else writes it meanwhile
    return path


def render_definition(substitutions: dict[str, str], path: Path = DEFINITION_FILE, execution: str = "standard") -> str:
    """Fill `${Name}` placeholders exactly as CDK's definition substitutions do; refuse missing or unknown ones."""
    return render_definition_text(definition_text(execution, path), substitutions)


def render_definition_text(text: str, substitutions: dict[str, str]) -> str:
    found = set(re.findall(r"\$\{(\w+)\}", text))
    if found != set(substitutions):
        raise ValueError(f"definition needs substitutions {sorted(found)}, got {sorted(substitutions)}")
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    json.loads(text)
    return text
