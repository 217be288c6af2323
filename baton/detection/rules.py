"""The built-in injection detector: weighted rules over a normalised copy of the text. Pure Python, deterministic,
no model, no download, no network.

What it looks for (each rule a named signal with a weight; the verdict lists the names, never what matched):
instructions that try to replace the reader's own ("ignore the previous instructions", "your new task is", in
English, Spanish, French and German), text addressed to an AI reader ("note to any AI reading this"), persona
take-overs ("you are now DAN", "developer mode"), requests for the system prompt or secrets, fake role markers
(`<|im_start|>system`, `[INST]`, `### SYSTEM ###`, a chat history with a system turn), pressure to call a tool or
move money around the controls ("without approval", "do not tell anyone"), exfiltration shapes (a markdown image
whose URL carries data, the instance-metadata address, `curl ... | sh`), and the ways such text is hidden or
encoded (invisible characters, Unicode tag characters, letters spaced out, HTML entities, base64 that decodes to
one of the above, text styled invisible).

Normalisation before matching: JSON is read and its strings (keys too) scanned; HTML entities decoded; NFKC;
invisible characters removed (and Unicode tag characters decoded to the ASCII they smuggle); lowercase; letters
spaced out with one separator ("i-g-n-o-r-e") joined; whitespace collapsed.

The score is the sum of the matched signals' weights over `2 * FLAG_AT`, capped at 1: flagged from 0.5. The rules
and weights were written and tuned on the tune half of benchmarks/injection_corpus only (see its README); the
figures on the held-out half are in `make bench`. A rule set is a signal, never a boundary: an attacker who reads
it can phrase around it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from baton.detection import InjectionVerdict

# points at which a text is flagged (score 0.5)
FLAG_AT = 1.0
# longest text scanned, in characters (the rest is cut; a longer value is itself reported as a signal)
MAX_SCAN_CHARS = 200_000
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
_SPACED = re.compile(r"\b(?:[a-z][-._ ]){3,}[a-z]\b")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_WS = re.compile(r"[ \t\f\v]+")
_LINES = re.compile(r"\s*[\r\n]+\s*")


@dataclass(frozen=True)
class Rule:
    signal: str
    weight: float
    pattern: re.Pattern[str]


def _rule(signal: str, weight: float, pattern: str) -> Rule:
    return Rule(signal, weight, re.compile(pattern, re.IGNORECASE | re.DOTALL))


_OVERRIDE_VERB = r"(?:ignore|ignoring|disregard|forget|override|bypass|skip|drop|abandon|stop following)"
_EARLIER = r"(?:previous|prior|above|earlier|preceding|original|initial|existing|old|current|system)"
_DIRECTIONS = (
    r"(?:instructions?|directions?|directives?|rules|guidelines|guidance|prompts?|restrictions|commands|"
    r"programming|policies|task|orders)"
)

RULES: tuple[Rule, ...] = (
    # replacing the reader's instructions
    _rule(
        "override_instructions",
        1.0,
        rf"\b{_OVERRIDE_VERB}\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+)*(?:of\s+)?(?:the\s+|your\s+)?{_EARLIER}\s+"
        rf"(?:\w+\s+)?{_DIRECTIONS}",
    ),
    _rule(
        "override_instructions",
        1.0,
        r"\b(?:ignora|olvida)\s+(?:todas\s+)?(?:las\s+)?instrucciones\s+anteriores"
        r"|\bignore[zr]?\s+(?:toutes\s+)?les\s+(?:instructions|consignes)\s+pr[ée]c[ée]dentes"
        r"|\b(?:vergiss|ignoriere)\s+(?:alle\s+)?(?:vorherigen|bisherigen|vorigen)\s+(?:anweisungen|instruktionen)",
    ),
    _rule(
        "override_instructions",
        0.8,
        r"\b(?:ignore|disregard|forget|never mind)\s+(?:everything\s+|all\s+)?(?:of\s+)?the\s+above\b"
        r"|\bforget\s+(?:what\s+you\s+were\s+told|your\s+(?:rules|instructions|guidelines|training))"
        r"|\bdisregard\s+your\s+(?:guidelines|rules|instructions|programming)"
        r"|\b(?:ignore|disregard|forget)\s+(?:the\s+|all\s+)?(?:instructions|rules)\s+you\s+(?:were|have\s+been)\s+given"
        r"|\b(?:ignore|disregard)\s+(?:the|your)\s+(?:translation|screening|refund|return|summar\w*)?\s*"
        r"(?:task|instructions|criteria|policy|policies)\b(?!\s+(?:page|document))",
    ),
    _rule(
        "new_instructions",
        0.6,
        r"\b(?:your|the)\s+(?:new|real|true|actual|updated)\s+(?:instructions?|task|objective|directive|goal|prompt)"
        r"|\b(?:instructions|prompt|directives?|configuration)\s+(?:have|has)\s+(?:been\s+)?"
        r"(?:updated|changed|revoked|replaced)"
        r"|\bthese\s+are\s+your\s+(?:new\s+)?instructions"
        r"|\bnew\s+(?:system\s+)?(?:instruction|directive)s?\s*(?:from|for)\s+(?:the\s+)?"
        r"(?:developer|admin|operator|system|ai|assistant|support bot|model)"
        r"|\bnew\s+(?:system\s+)?(?:instructions?|directive)s?\s*:"
        r"|\b(?:supersedes?|overrides?)\s+(?:all\s+)?(?:your\s+|the\s+)?(?:previous|prior|earlier|other)"
        r"|\bthe\s+previous\s+(?:conversation|instructions)\s+(?:was|were)\s+(?:a\s+test|written|a\s+mistake)"
        r"|\byour\s+previous\s+instructions\s+were",
    ),
    # text addressed to an AI reader
    _rule(
        "addresses_the_ai",
        0.5,
        r"\b(?:note\s+to|attention|dear|hey|to|for)\s+(?:the\s+|any\s+|all\s+|whichever\s+|whoever\s+)?"
        r"(?:ai|llm|language\s+model|automated|email|coding|recruiting|integration|support)?\s*"
        r"(?:ai|assistants?|agents?|llms?|models?|chatbots?|bots?|readers|scheduler)\b(?:\s+(?:reading|processing|"
        r"summari[sz]ing|handling))?"
        r"|\b(?:if\s+you\s+are|as)\s+(?:an?\s+|the\s+)?(?:ai|llm|language\s+model|assistant|automated\s+agent)\b"
        r"|\bany\s+(?:ai|llm)\s*(?:system|model|agent)?s?\s+reading"
        r"|(?:^|[\n.!?\"'>\[{(-]\s*)(?:ai|llm|assistant|model|agent)s?\s*:"
        r"|\b(?:ai|llm|language)\s+(?:agents?|models?|assistants?|systems?)\s*(?::|must|should)",
    ),
    # persona take-over
    _rule("persona", 0.3, r"\byou\s+are\s+now\b|\bfrom\s+now\s+on,?\s+(?:you|respond|reply|answer)"),
    _rule("persona", 0.4, r"\bpretend\s+(?:you\s+are|to\s+be)|\brole-?\s?play\s+as\b"),
    _rule("persona", 0.6, r"\byou\s+are\s+no\s+longer\b"),
    _rule(
        "authority_claim",
        0.4,
        r"\bi(?:'m|\s+am)\s+(?:the|your)\s+(?:developer|creator|owner|administrator|admin)\b"
        r"|\bthis\s+is\s+(?:the|your)\s+(?:ceo|owner|store\s+owner|developer|administrator|admin)\b",
    ),
    _rule(
        "persona",
        0.6,
        r"\bdo\s+anything\s+now\b|\bdan\b|\bjailbr(?:oken|eak)|\bhackergpt|\bevilbot"
        r"|\b(?:an?\s+)?(?:ai|assistant|agent)\s+(?:with\s+no|without)\s+(?:rules|restrictions|limits)"
        r"|\bunrestricted\s+(?:agent|assistant|ai|mode)|\bno\s+(?:content\s+policy|restrictions|rules)\b",
    ),
    _rule("privileged_mode", 0.4, r"\b(?:developer|maintenance|admin|god|debug)\s+mode\b"),
    # asking for the prompt or secrets
    _rule(
        "prompt_or_secret_request",
        0.8,
        r"\b(?:reveal|print|show|output|repeat|disclose|leak|display|tell\s+me|give\s+me|include)\b[^.\n]{0,60}?"
        r"\b(?:system\s+prompt|hidden\s+(?:prompt|instructions)|initial\s+prompt|your\s+(?:instructions|prompt)|"
        r"(?:system|hidden)\s+instructions|api\s+keys?|admin\s+(?:password|credentials)|the\s+password|"
        r"connection\s+string|secrets?\s+in\s+your|any\s+secrets|credentials\s+in\s+your)"
        r"|\brepeat\s+everything\s+above|\boutput\s+the\s+(?:database|db)\b",
    ),
    # fake role markers and system turns
    _rule(
        "fake_role_marker",
        0.7,
        r"<\|?(?:im_start|im_end|system|user|assistant)\|?>|\[/?inst\]|</s>|\[/?(?:system|assistant)\]"
        r"|#{2,}\s*system|={2,}\s*(?:begin|end)\s+system|\[system\]\(|\bsystem\s+(?:override|message|notice)\b"
        r"|\[admin\s+override\]|\[\[\s*assistant|\{\{\s*assistant|\"role\":\s*\"system\""
        r"|#{2,}\s*(?:assistant|user)\s*:",
    ),
    _rule("fake_role_marker", 0.5, r"(?:^|[\s.!>])system\s*:\s"),
    # pressure to act around the controls
    _rule(
        "tool_coercion",
        0.5,
        r"\bcall(?:ing)?\s+(?:the\s+)?[a-z]+_[a-z_]+\b|\b(?:via|using|with)\s+the\s+[a-z_]+\s+tool\b"
        r"|\bcall\s+the\s+\w+\s+(?:tool|function)",
    ),
    _rule(
        "bypass_controls",
        0.5,
        r"\bwithout\s+(?:any\s+)?(?:approval|verification|review|checking|restriction|escalation|telling)"
        r"|\b(?:skip|bypass|disable)\s+(?:the\s+|all\s+)?(?:approval|return\s+policy|verification|safety|policy|"
        r"security|checks?)"
        r"|\bauto-?(?:approved|accept)|\bapprove\s+(?:all|every)\b|\bapprove\s+every\s+refund"
        r"|\b(?:you\s+have|with)\s+(?:permission|elevated\s+privileges)|\bauthori[sz]ed\s+(?:to|by)\s+(?:bypass|"
        r"management|admin)|\bthis\s+is\s+allowed\b|\boverride\s+(?:the\s+)?policy"
        r"|\b(?:checks?|verification|approval|policy|window)\s+(?:are|is)\s+(?:now\s+)?(?:disabled|off|suspended|waived)"
        r"|\b(?:accept|approve|grant)\s+(?:every|all|any)\b",
    ),
    _rule(
        "redirect_money",
        0.4,
        r"\b(?:wire|transfer|move|pay)\b[^.\n]{0,60}?\bto\s+(?:the\s+)?(?:iban|account|card|savings\s+account)"
        r"|\brefund\b[^.\n]{0,40}?\bto\s+(?:iban|account|card)\s*[\w-]*\d",
    ),
    _rule(
        "credential_request",
        0.5,
        r"(?<!never\s)(?<!not\s)(?<!n't\s)\b(?:enter|send|share|email|forward|provide|reply\s+with)\b[^.\n]{0,40}?"
        r"\b(?:login\s+)?(?:credentials|password|passcode|card\s+number|cvv|verification\s+code|session\s+token|"
        r"(?:this|the)\s+code)\b",
    ),
    _rule(
        "destructive_action",
        0.5,
        r"\b(?:delete|wipe|erase|drop|remove|close)\s+(?:all|every|the\s+customer's|the\s+audit)\b",
    ),
    _rule(
        "output_directive",
        0.4,
        r"\b(?:end|start|begin|finish)\s+your\s+(?:reply|answer|response)\s+with|\brespond\s+only\s+(?:in|with)\b",
    ),
    _rule("task_switch", 0.5, r"\bstop\s+\w+ing\b.{0,60}?\binstead\b"),
    # a text that talks about injections rather than doing one (a security article, a test's comment)
    _rule(
        "mentions_injection",
        -0.5,
        r"[\"'\u201c\u2018]\s*(?:ignore|disregard|forget)\s+(?:\w+\s+){0,3}(?:instructions|rules|prompts?)[.!]?\s*"
        r"[\"'\u201d\u2019]"
        r"|\b(?:ignore|disregard)[^.\n]{0,40}\b(?:is|are)\s+(?:a|an|the)\s+(?:\w+\s+){0,2}(?:injection|attack|jailbreak)",
    ),
    _rule(
        "secrecy",
        0.4,
        r"\bdo\s+not\s+(?:tell|mention|inform|confirm\s+with|escalate)|\bdon't\s+(?:tell|mention)"
        r"|\bsilently\b|\bwithout\s+telling|\bnot\s+tell\s+(?:finance|anyone|the)",
    ),
    # exfiltration shapes
    _rule(
        "exfiltration",
        0.6,
        r"!\[[^\]]*\]\(https?://[^)\s]*[?{]|169\.254\.169\.254|curl\s+\S+\s*\|\s*(?:ba)?sh"
        r"|\bsend\s+(?:the\s+)?(?:conversation|chat\s+history|a\s+copy\s+of\s+every)",
    ),
    _rule(
        "exfiltration",
        0.3,
        r"\b(?:send|forward|email|post|upload|export|transfer|wire|move|pay)\b[^.\n]{0,80}?\bto\s+"
        r"(?:https?://|[\w.+-]+@[\w-]+\.|iban\b|\+\d|account\s+\w*\d)",
    ),
    # hiding and encoding
    _rule(
        "hidden_text",
        0.2,
        r"display\s*:\s*none|font-size\s*:\s*[01](?:px)?\b|opacity\s*:\s*0(?:\.0+)?\b|color\s*:\s*white"
        r"|aria-hidden|<!--|\bhidden\b",
    ),
    _rule("decode_and_follow", 0.5, r"\bdecode\b[^.\n]{0,40}\b(?:follow|execute|run|obey)|\bin\s+base64\s*:"),
)


@dataclass(frozen=True)
class Scan:
    """What the rules found in one text: each signal once, with the total of their weights."""

    points: float
    signals: tuple[str, ...]

    @property
    def score(self) -> float:
        return round(min(self.points / (2 * FLAG_AT), 1.0), 3)

    @property
    def flagged(self) -> bool:
        return self.points >= FLAG_AT


def scan(text: str) -> Scan:
    """Match every rule against the normalised text (and against what any base64 in it decodes to)."""
    signals: dict[str, float] = {}
    if len(text) > MAX_SCAN_CHARS:
        signals["oversized"] = 0.0
        text = text[:MAX_SCAN_CHARS]
    normal, found = normalise(text)
    signals |= found
    _match(normal, signals)
    for decoded in _decoded_base64(text):
        inner: dict[str, float] = {}
        _match(normalise(decoded)[0], inner)
        if sum(inner.values()) >= FLAG_AT / 2:
            signals["encoded_payload"] = 0.6
            for name, weight in inner.items():
                signals[name] = max(signals.get(name, 0.0), weight)
    return Scan(points=round(sum(signals.values()), 3), signals=tuple(sorted(signals)))


def _match(normal: str, signals: dict[str, float]) -> None:
    for rule in RULES:
        if (rule.signal not in signals or rule.weight > signals[rule.signal]) and rule.pattern.search(normal):
            signals[rule.signal] = rule.weight


def normalise(text: str) -> tuple[str, dict[str, float]]:
    """The text as the rules read it, and the signals normalising it revealed (invisible or smuggled characters)."""
    signals: dict[str, float] = {}
    stripped = text.strip()
    if stripped[:1] in "{[":
        with contextlib.suppress(ValueError, RecursionError):  # not JSON after all: scanned as it is
            text = "\n".join(_strings(json.loads(stripped)))
    text = unicodedata.normalize("NFKC", html.unescape(text))
    tags = _TAGS.findall(text)
    if tags:
        signals["smuggled_characters"] = 0.6
        text = _TAGS.sub("", text) + "\n" + "".join(chr(ord(c) - 0xE0000) for c in tags)
    invisible = len(_INVISIBLE.findall(text))
    if invisible >= 3:
        signals["invisible_characters"] = 0.3
    text = _INVISIBLE.sub("", text).lower()
    text = _SPACED.sub(lambda m: re.sub(r"[-._ ]", "", m.group(0)), text)
    return _LINES.sub("\n", _WS.sub(" ", text)), signals


def _strings(value: object) -> Iterator[str]:
    """Every string in a JSON value, keys included (a hostile payload can choose its keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _decoded_base64(text: str) -> Iterator[str]:
    for blob in _BASE64.findall(text)[:20]:
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded.isprintable() and sum(c.isalpha() or c == " " for c in decoded) >= 0.8 * len(decoded):
            yield decoded


class RuleDetector:
    """The built-in detector (`injection_detector="builtin"`): `scan` over the rules above."""

    name = "builtin-rules"

    def scan(self, text: str) -> InjectionVerdict:
        found = scan(text)
        return InjectionVerdict(
            detector=self.name, flagged=found.flagged, score=found.score, signals=found.signals, available=True
        )
