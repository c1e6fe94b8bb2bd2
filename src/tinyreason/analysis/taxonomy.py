"""Why was an answer wrong? A rule-based failure taxonomy of one sample, from its record alone.

    case = classify(sample)        # sample: one samples.jsonl record whose answer is wrong
    case.cls, case.reason          # e.g. "arithmetic error", "50 + 1440 = 1940 is false (is 1490)"

The chain judged is the one that produced the final answer: the last generation whose extracted answer
equals the prediction (for self-consistency, the last majority sample; for reflection, the revision), or
the last generation when no answer was extracted; for hybrid-sc, a chain whenever a chain gave the
answer, even if a program gave it too (see judged_generation). Classes, checked in this order (first
match wins):

1. other — the sample carries a backend error; no answer could be extracted; the chain was cut at the token
   budget (finish_reason "length": its "answer" is whatever number came last); or a format slip: the chain's
   last stated computation equals the gold answer but a different number was extracted.
2. guess (no working) — a bare guess: the judged chain is under GUESS_TOKENS (20) generated tokens and states no
   computation ("#### 18" and little else). Small models fall into this mode (int8 weights, a collapsed RL
   policy); a guess that happens to be a unit factor off gold is still a guess, so it outranks 3 and 4.
3. arithmetic error — a stated computation in the chain is false (tinyreason.analysis.arith: a safe
   parser, conservative readings, rounding tolerated). A definite, mechanical fact, so it outranks 4 and 5.
4. unit confusion — the wrong answer is the gold answer scaled by a unit factor the question talks about
   (exactly, or within 0.5%), or the "p% more/less" vs "p% of" confusion:
      x60  minutes/hours/seconds    x3600 seconds/hours   x24 hours/days   x7 days/weeks   x365 days/years
      x12  dozens, months/years, inches/feet              x52 weeks/years
      x100 percent vs fraction, cents vs dollars, cm/m    x1000 g/kg, ml/l, m/km
   (either direction, the question must mention a matching unit word) and, for each percentage p in a question
   that says more/less/increase/discount/..., answer/gold in {p/(1+p), (1+p)/p, p/(1-p), (1-p)/p}: "40% more"
   read as "40% of" (or the reverse).
5. relationship misunderstanding — everything stated adds up, yet the answer is wrong: the model set the
   problem up wrongly. (Also where no computation could be checked; the reason says so.)

A judged generation that is a program (pal, pal-sc, hybrid-sc: its extra has program_status) is not a
chain: its arithmetic is done by the interpreter, so it gets one of two classes of its own, checked right
after a backend error:
- program error — the program produced no number: no program in the completion, a syntax error, an
  exception, a limit (memory, output, time) or no number returned; the reason names the status and error.
- wrong program — it ran and returned a number, the wrong one: the model wrote the wrong computation
  (the reason adds the unit heuristic of 4 when it matches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from tinyreason.analysis.claims import Claim, claims
from tinyreason.answers import answers_match, normalize_number

CLASSES = ("guess (no working)", "arithmetic error", "unit confusion", "relationship misunderstanding", "program error", "wrong program", "other")
GUESS_TOKENS = 20  # a chain this short that states no computation is a bare guess
PROGRAM_CLASSES = ("program error", "wrong program")

_UNITS: list[tuple[int, str, re.Pattern[str]]] = [
    (60, "minutes vs hours (or seconds vs minutes)", re.compile(r"\b(minute|hour|second|min|hr)s?\b", re.I)),
    (3600, "seconds vs hours", re.compile(r"\b(second|hour)s?\b", re.I)),
    (24, "hours vs days", re.compile(r"\b(hour|day)s?\b", re.I)),
    (7, "days vs weeks", re.compile(r"\b(day|week)s?\b", re.I)),
    (365, "days vs years", re.compile(r"\b(day|year)s?\b", re.I)),
    (12, "dozens / months vs years / inches vs feet", re.compile(r"\b(dozen|month|year|inch|inches|foot|feet)s?\b", re.I)),
    (52, "weeks vs years", re.compile(r"\b(week|year)s?\b", re.I)),
    (100, "percent vs fraction / cents vs dollars / cm vs m", re.compile(r"%|\bpercent|\bcents?\b|\bcentimet|\bcm\b", re.I)),
    (1000, "grams vs kilograms / ml vs liters / m vs km", re.compile(r"\b(grams?|kilograms?|kg|lit(?:er|re)s?|ml|millilit\w*|meters?|km|kilomet\w*)\b", re.I)),
]
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent\b)", re.I)
_CHANGE = re.compile(r"\b(more|less|fewer|increase[sd]?|decrease[sd]?|off|discount\w*|higher|lower|raise[sd]?|mark-?up|extra|cheaper|expensive|grow|grew|rise|rose|drop\w*|reduc\w*)\b", re.I)
_TOL = Fraction(1, 200)


@dataclass
class Case:
    id: int
    cls: str
    reason: str
    chain: str  # the text judged
    stage: str
    checked: list[Claim] = field(default_factory=list)
    judge: str | None = None  # optional LLM verdict (tinyreason.analysis.judge), shown next to the rule's class


def judged_generation(sample: dict[str, Any]) -> dict[str, Any] | None:
    """The generation responsible for the final answer (see module docstring): the LAST one whose answer
    matches the prediction. For hybrid-sc, where programs are listed before chains, a wrong answer backed
    by both a program and a chain is therefore judged on the chain (checkable arithmetic and setup); it is
    classified as a program failure only when no chain gave that answer."""
    gens = sample.get("generations") or []
    pred = sample.get("prediction")
    matching = [g for g in gens if pred is not None and g.get("answer") is not None and answers_match(g["answer"], str(pred))]
    return matching[-1] if matching else (gens[-1] if gens else None)


def _value(s: object) -> Fraction | None:
    v = normalize_number(str(s)) if s is not None else None
    return None if v is None else Fraction(v)


def _near(x: Fraction, y: Fraction) -> bool:
    return x == y or (y != 0 and abs(x - y) <= abs(y) * _TOL)


def unit_confusion(pred: object, gold: object, question: str) -> str | None:
    """The documented unit heuristic that turns gold into pred, or None."""
    p, g = _value(pred), _value(gold)
    if p is None or g is None or g == 0 or p == g:
        return None
    for factor, what, words in _UNITS:
        if words.search(question) and (_near(p, g * factor) or _near(p, g / factor)):
            way = "×" if _near(p, g * factor) else "÷"
            return f"answer {pred} = gold {gold} {way} {factor}: {what}"
    if _CHANGE.search(question):
        for m in _PERCENT.finditer(question):
            q = Fraction(m[1]) / 100
            readings = {"p/(1+p)": q / (1 + q), "(1+p)/p": (1 + q) / q if q else None}
            if q < 1:
                readings.update({"p/(1-p)": q / (1 - q), "(1-p)/p": (1 - q) / q if q else None})
            for name, r in readings.items():
                if r is not None and _near(p, g * r):
                    return f"answer/gold = {name} with p = {m[1]}%: '{m[0]} more/less' read as '{m[0]} of' (or the reverse)"
    return None


def _other(sample: dict[str, Any], gen: dict[str, Any] | None, found: list[Claim]) -> str | None:
    if sample.get("error"):
        return f"backend error: {str(sample['error'])[:120]}"
    if gen is None:
        return "no generation recorded"
    if sample.get("prediction") is None:
        cut = " (truncated at the token budget)" if sample.get("truncated") else ""
        return f"no answer could be extracted{cut}"
    if gen.get("finish_reason") == "length":
        return f"the chain was cut at the token budget ({gen.get('n_tokens')} tokens); '{sample['prediction']}' is the last number before the cut"
    if found and _value(found[-1].stated) is not None and answers_match(found[-1].stated, str(sample["gold"])):
        return f"format: the chain's last computation gives the gold answer ({found[-1]}) but '{sample['prediction']}' was extracted"
    return None


def is_guess(gen: dict[str, Any] | None, found: list[Claim] | None = None) -> bool:
    """A bare guess: a chain (not a program) under GUESS_TOKENS generated tokens that states no computation.
    A generation without a token count is never called one."""
    if gen is None or "program_status" in (gen.get("extra") or {}) or not isinstance(gen.get("n_tokens"), int):
        return False
    return gen["n_tokens"] < GUESS_TOKENS and not (claims(gen.get("text") or "") if found is None else found)


def program_text(gen: dict[str, Any]) -> str:
    """A program generation's completion followed by what the sandbox made of it."""
    x = gen.get("extra") or {}
    head = f"[program {x.get('program_status')} in {x.get('program_elapsed_s')} s, answer {x.get('program_answer')!r}]"
    tail = [f"[stdout]\n{x['program_stdout']}" if x.get("program_stdout") else "", f"[error] {x['program_error']}" if x.get("program_error") else ""]
    return "\n\n".join([gen.get("text") or "", head, *[t for t in tail if t]])


def _program_case(sample: dict[str, Any], gen: dict[str, Any]) -> Case:
    x = gen.get("extra") or {}
    case = Case(int(sample["id"]), "program error", "", program_text(gen), gen.get("stage", "?"))
    if x.get("program_status") != "ok":
        case.reason = f"{x.get('program_status')}: {x.get('program_error') or 'no detail'}"[:300]
        return case
    unit = unit_confusion(sample["prediction"], sample["gold"], sample.get("question", ""))
    case.cls = "wrong program"
    case.reason = f"the program ran and returned {sample['prediction']} ≠ gold {sample['gold']}" + (f"; {unit}" if unit else "")
    return case


def classify(sample: dict[str, Any]) -> Case:
    """The failure class of one wrong sample (see the module docstring for the rules and their order)."""
    gen = judged_generation(sample)
    if gen is not None and "program_status" in (gen.get("extra") or {}) and not sample.get("error"):
        return _program_case(sample, gen)
    text = (gen or {}).get("text") or ""
    found = claims(text)
    case = Case(int(sample["id"]), "", "", text, (gen or {}).get("stage", "?"), found)
    why = _other(sample, gen, found)
    if why:
        case.cls, case.reason = "other", why
        return case
    if is_guess(gen, found):
        case.cls = "guess (no working)"
        case.reason = f"a bare guess: {gen['n_tokens']} generated tokens and no stated computation, answer {sample['prediction']} ≠ gold {sample['gold']}"
        return case
    false = [c for c in found if not c.ok]
    if false:
        case.cls = "arithmetic error"
        case.reason = "; ".join(str(c) for c in false[:3]) + (f" (+{len(false) - 3} more)" if len(false) > 3 else "")
        return case
    unit = unit_confusion(sample["prediction"], sample["gold"], sample.get("question", ""))
    if unit:
        case.cls, case.reason = "unit confusion", unit
        return case
    case.cls = "relationship misunderstanding"
    checked = f"all {len(found)} stated computations check out" if found else "no checkable computation in the chain"
    case.reason = f"{checked}, yet the answer {sample['prediction']} ≠ gold {sample['gold']}"
    return case


def tally(cases: list[Case]) -> list[tuple[str, int, float]]:
    """(class, count, share) for every class, in CLASSES order."""
    n = len(cases) or 1
    return [(c, k, k / n) for c in CLASSES for k in [sum(x.cls == c for x in cases)]]
