"""The orchestration state machine definition, shared by CDK and the offline engine.

It ships as package data (`baton/statemachines/`), found with importlib.resources wherever Baton is installed.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

# package data on disk wherever Baton is installed (a wheel, an editable install, a Lambda asset)
DEFINITION_FILE = Path(str(files("baton").joinpath("statemachines", "orchestration.asl.json")))


def render_definition(substitutions: dict[str, str], path: Path = DEFINITION_FILE) -> str:
    """Fill `${Name}` placeholders exactly as CDK's definition substitutions do; refuse missing or unknown ones."""
    return render_definition_text(path.read_text(), substitutions)


def render_definition_text(text: str, substitutions: dict[str, str]) -> str:
    found = set(re.findall(r"\$\{(\w+)\}", text))
    if found != set(substitutions):
        raise ValueError(f"definition needs substitutions {sorted(found)}, got {sorted(substitutions)}")
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    json.loads(text)
    return text
