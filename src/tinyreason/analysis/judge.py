"""Optional LLM judge for the hard split of the taxonomy: relationship misunderstanding vs unit confusion.

    tinyreason regressions runs/greedy runs/reflect --judge-model Qwen/Qwen2.5-7B-Instruct [--judge-backend hf]

The rules of tinyreason.analysis.taxonomy stay the classification of record; the judge's verdict is shown
next to it (and its agreement counted), never silently swapped in — a judge is itself a model whose
accuracy is unknown until audited. Only cases the rules put in those two classes are sent, one greedy
call each with the `taxonomy-judge` prompt (tinyreason.prompts); the reply is read as RELATIONSHIP or UNIT
(the first of the two words that appears), anything else counts as unparseable.
"""

from __future__ import annotations

import re
from typing import Any

from tinyreason.analysis.taxonomy import Case
from tinyreason.backends.base import Backend
from tinyreason.prompts import get_prompt
from tinyreason.types import SamplingParams

JUDGED = {"relationship misunderstanding": "relationship", "unit confusion": "unit"}
_VERDICT = re.compile(r"\b(RELATIONSHIP|UNIT)S?\b", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    m = _VERDICT.search(text or "")
    return m[1].lower() if m else None


def judge_cases(cases: list[Case], samples: dict[int, dict[str, Any]], backend: Backend, max_new_tokens: int = 16) -> dict[str, int]:
    """Set `case.judge` ('relationship' / 'unit' / 'unparseable') on the judged classes; returns counts."""
    todo = [c for c in cases if c.cls in JUDGED]
    if not todo:
        return {"judged": 0, "agree": 0, "unparseable": 0}
    template = get_prompt("taxonomy-judge")
    chats = [template.render(question=samples[c.id].get("question", ""), gold=str(samples[c.id]["gold"]), solution=c.chain) for c in todo]
    outs = backend.generate(chats, SamplingParams(max_new_tokens=max_new_tokens))
    for case, comps in zip(todo, outs, strict=True):
        case.judge = parse_verdict(comps[0].text) or "unparseable"
    return {
        "judged": len(todo),
        "agree": sum(JUDGED[c.cls] == c.judge for c in todo),
        "unparseable": sum(c.judge == "unparseable" for c in todo),
    }
