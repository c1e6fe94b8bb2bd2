r"""The one grader: pull a numeric answer out of model text, normalize it, match it, vote on it.

Eval, analysis and the GRPO reward all call these, so a change here changes every number the project
reports; tests/test_answers.py pins the behaviour with a table of real small-model outputs (add a row
before changing a rule). Pure, stdlib only, never raises on str input; None means "no answer".

    extract_answer(text, mode)    model text -> normalized answer, or None
    normalize_number(s)           "$1,200.50" -> "1200.5"; None when s is not a number
    answers_match(pred, gold)     exact numeric equality of the normalized values
    vote_counts / majority_vote   self-consistency (Wang et al. 2022) over normalized answers
    parse_gold(answer_field)      GSM8K "... #### 18" -> "18"

Modes follow lm-evaluation-harness's GSM8K filters: "strict" reads only the last `#### N` (the
format the prompt asks for); "flexible" takes the answer cue that occurs LAST in the text (`#### N`,
`\boxed{N}`, "the answer is N", "Answer: N", "final answer is N") and, with no cue, the last number.

Decisions on ambiguous inputs (each pinned by a test row):
- Canonical form is a plain decimal: no exponent, sign only if negative, no leading zeros, no
  trailing decimal zeros ("-0" -> "0", ".5" -> "0.5"). Values are exact Fractions, never floats, and
  the canonical string is unique per value, so string equality is numeric equality (18 == 18.00).
- "3/4" and "\frac{3}{4}" are one number. A terminating value becomes its decimal ("0.75"); any
  other stays a reduced fraction ("2/6" -> "1/3"); a zero denominator is not a number. LaTeX
  "2\frac{1}{2}" is 2.5; plain-text "2 1/2" is two numbers, 2 and 0.5.
- "-" is a minus sign only at the start of a token (after start, space, "(", "=", "$", "*", ...);
  after a letter, digit, ")" or "/" it is a hyphen: "5-year-old" gives 5, "2-3" gives 2 and 3.
- A comma is a thousands separator only between well-formed groups of three ("1,234,567"); so
  "3,4" is 3 and 4, and "1,2,3" is 1, 2, 3. Percent and currency signs are dropped: "25%" -> 25.
- A "." followed by space or end is a sentence period, not a decimal point: "is 18." -> 18.
- Clock times "3:30" are not numbers: neither 3 nor 30 is a candidate (GSM8K golds are plain numbers).
- Digits glued to a letter or "_" ("x2", "a_1") are not numbers; "2x" and "18kg" are.
- After a text cue the answer is the first number of the sentence that follows, so "The answer is
  18. Check: 18*2 = 36" gives 18; when that number opens an expression ("is 16 - 3 - 4 = 9"), the
  number after the sentence's last "=" is taken. Inside \boxed{...} the last number is taken.
  A cue with no number after it is skipped for the cue before it (the last 32 cues are read).
- A GSM8K calculator annotation "<<3*4=12>>12" is dropped when its result is echoed after it (as in
  GSM8K's own solutions) and kept otherwise, so "= <<9*2=18>> dollars" still yields 18.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Literal

__all__ = ["Mode", "answers_match", "extract_answer", "majority_vote", "normalize_number"]
__all__ += ["parse_gold", "same_answer", "vote_counts"]

Mode = Literal["strict", "flexible"]
_MODES = ("strict", "flexible")
_MAX_NUMBER_CHARS = 100  # longer is junk, not an answer; also keeps int() far below Python's digit limit
_CUE_WINDOW = 300  # characters read after a text cue
_BOX_WINDOW = 500  # characters scanned for a \boxed{...}'s closing brace
_MAX_CUES = 32  # cues read, last first: a looping generation can repeat a cue thousands of times

# A number as written in text. Group "num" is read by normalize_number; group "time" is skipped.
_BODY = r"(?:(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)"
_TOKEN = re.compile(
    r"(?P<time>(?<![0-9:])[0-9]{1,2}:[0-9]{2}(?![0-9:]))"
    r"|(?P<num>(?:(?<![A-Za-z0-9_.)\]}/-])-)?\$?(?<![A-Za-z0-9_.])"  # sign vs hyphen, glued digits
    + _BODY
    + r"(?:/[0-9]+(?![0-9]|\.[0-9]))?)"  # an optional denominator: 3/4
)
_NUMBER = re.compile(  # what normalize_number accepts, after stripping decorations
    r"(?:(?P<sign>[+-])\$?|\$(?P<sign2>[+-])?)?"
    r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.(?P<frac>[0-9]+))?(?:/(?P<den>[0-9]+))?"
)
_LATEX = [  # (pattern, replacement) applied in order by _clean
    (re.compile(r"<<[^<>\n]*>>(?=[-$]?[0-9])"), ""),  # GSM8K calculator annotation, result echoed
    (re.compile(r"\\([$%])"), r"\1"),  # \$18, 25\%
    (re.compile(r"(?<=[0-9])(?:\{,\}|\\,)(?=[0-9]{3})"), ","),  # 1{,}200 and 1\,200
    (  # mixed number 2\frac{1}{2} -> 5/2
        re.compile(r"(?<![0-9])([0-9]{1,9})\s*\\[dt]?frac\{\s*([0-9]{1,9})\s*\}\{\s*([0-9]{1,9})\s*\}"),
        lambda m: f"{int(m[1]) * int(m[3]) + int(m[2])}/{m[3]}",
    ),
    (re.compile(r"\\[dt]?frac\{\s*(-?[0-9.]+)\s*\}\{\s*([0-9]+)\s*\}"), r"\1/\2"),
    (re.compile("\u2212"), "-"),  # Unicode minus sign
]
_HASH_CUE = re.compile(r"####[\s*$(\[{\\]*")
_BOX_CUE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_TEXT_CUE = re.compile(
    r"\banswer\b(?:\s+(?:to|for)\b[^\n.:=,]{0,40}?)?[\s*_]*"
    r"(?:(?:is|would\s+be|will\s+be|should\s+be)\b[\s*_]*[:=]?|[:=])"
    r"|答案\s*(?:是|为|:|：)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|[!?]")
_OPERATOR = re.compile(r"\s*(?:[-+*/×÷x]|\\times|\\cdot)\s*[($]?[0-9]")


def _clean(text: str) -> str:
    """Rewrite LaTeX and GSM8K notation into plain text the number pattern reads."""
    for pattern, repl in _LATEX:
        text = pattern.sub(repl, text)
    return text


def _canonical(value: Fraction) -> str:
    """The unique string for a value: a plain decimal if it terminates, else a reduced 'p/q'."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    num, den = abs(value.numerator), value.denominator
    rest, twos, fives = den, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return f"{sign}{num}/{den}"
    places = max(twos, fives)  # the fewest decimal places that hold the value, so no trailing zeros
    digits = str(num * 10**places // den).rjust(places + 1, "0")
    whole, frac = digits[: len(digits) - places], digits[len(digits) - places :]
    return sign + whole + ("." + frac if frac else "")


def normalize_number(s: str) -> str | None:
    """Canonical string of a numeric string ("$1,200.50" -> "1200.5", "-0" -> "0"), None if not a number.

    Accepts surrounding whitespace and markdown bold, `$`/`\\$`, a trailing `%` or sentence period,
    a leading `+`, thousands separators in groups of three, and fractions `3/4` / `\\frac{3}{4}`.
    """
    if not isinstance(s, str):
        return None
    s = _clean(s).strip().strip("*").strip()
    s = re.sub(r"[\s.%]+$", "", s)
    if len(s) > _MAX_NUMBER_CHARS:
        return None
    m = _NUMBER.fullmatch(s)
    if m is None or (m["int"] is None and m["frac"] is None):
        return None
    whole, frac = (m["int"] or "0").replace(",", ""), m["frac"] or ""
    value = Fraction(int(whole + frac), 10 ** len(frac))
    if m["den"] is not None:
        if int(m["den"]) == 0:
            return None
        value /= int(m["den"])
    if "-" in (m["sign"], m["sign2"]):
        value = -value
    return _canonical(value)


def _numbers(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Every number token in text with its normalized value, left to right; clock times skipped."""
    for m in _TOKEN.finditer(text):
        if m["num"] is not None:
            value = normalize_number(m["num"])
            if value is not None:
                yield m, value


def _last_number(text: str) -> str | None:
    value = None  # the loop leaves the last value bound
    for _, value in _numbers(text):
        pass
    return value


def _number_at(text: str, pos: int) -> str | None:
    """The number starting exactly at pos (after `#### ` and its filler), else None."""
    m = _TOKEN.match(text, pos)
    return normalize_number(m["num"]) if m and m["num"] else None


def _boxed_number(text: str, pos: int) -> str | None:
    """The last number inside the braces opened just before pos; None if they never close."""
    depth = 1
    for i in range(pos, min(len(text), pos + _BOX_WINDOW)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return _last_number(text[pos:i])
    return None


def _sentence_number(text: str, pos: int) -> str | None:
    """The answer stated after a text cue: the first number of the next sentence (see module doc)."""
    line = text[pos : pos + _CUE_WINDOW].lstrip().split("\n", 1)[0]
    sentence = _SENTENCE_END.split(line, 1)[0]
    first = next(_numbers(sentence), None)
    if first is None:
        return None
    match, value = first
    if "=" in sentence and _OPERATOR.match(sentence, match.end()):
        result = next(_numbers(sentence.rsplit("=", 1)[1]), None)
        if result is not None:
            return result[1]
    return value


def _strict(text: str) -> str | None:
    for m in reversed(list(_HASH_CUE.finditer(text))):
        value = _number_at(text, m.end())
        if value is not None:
            return value
    return None


def _flexible(text: str) -> str | None:
    cues = [(m.start(), _number_at, m.end()) for m in _HASH_CUE.finditer(text)]
    cues += [(m.start(), _boxed_number, m.end()) for m in _BOX_CUE.finditer(text)]
    cues += [(m.start(), _sentence_number, m.end()) for m in _TEXT_CUE.finditer(text)]
    cues.sort(key=lambda cue: cue[0], reverse=True)
    for _, read, end in cues[:_MAX_CUES]:
        value = read(text, end)
        if value is not None:
            return value
    return _last_number(text)


def extract_answer(text: str, mode: Mode = "flexible") -> str | None:
    """The normalized numeric answer a model's text states, or None.

    strict: only the last `#### N`. flexible: the number after the answer cue that occurs last
    (`#### N`, `\\boxed{N}`, "the answer is N", "Answer: N"); without one, the last number.
    An unknown mode is a programming error and raises ValueError.
    """
    if mode not in _MODES:
        raise ValueError(f"extract_answer: unknown mode {mode!r}; valid modes: {', '.join(_MODES)}")
    if not isinstance(text, str):
        return None
    text = _clean(text)
    return _strict(text) if mode == "strict" else _flexible(text)


def answers_match(pred: str | None, gold: str) -> bool:
    """True when both sides are numbers of equal value ("18" == "$18.00"); None or junk is False.

    pred is an already-extracted answer; call extract_answer on raw model text first.
    """
    pred_value = None if pred is None else normalize_number(pred)
    gold_value = normalize_number(gold)
    # Canonical strings are unique per value, so this is exact numeric (Fraction) equality.
    return pred_value is not None and pred_value == gold_value


def vote_counts(preds: Iterable[str | None]) -> list[tuple[str, int]]:
    """(normalized answer, votes), most votes first, ties broken by earliest first appearance.

    "18", "18.0" and "$18" are one answer; None and non-numbers cast no vote.
    """
    counts: dict[str, int] = {}  # dicts keep insertion order = order of first appearance
    for pred in preds:
        value = None if pred is None else normalize_number(pred)
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])  # stable sort keeps first-seen order


def majority_vote(preds: Iterable[str | None]) -> str | None:
    """The normalized answer with the most votes (earliest first appearance on ties); None if no votes."""
    ranked = vote_counts(preds)
    return ranked[0][0] if ranked else None


def parse_gold(answer_field: str) -> str | None:
    """GSM8K gold: the number after the last `####`, normalized; None if absent or not a number."""
    if not isinstance(answer_field, str) or "####" not in answer_field:
        return None
    return normalize_number(answer_field.rsplit("####", 1)[1].split("\n", 1)[0])


def same_answer(a: str | None, b: str | None) -> bool:
    """Two predictions are the same answer: equal as numbers, or both None (methods use it to record
    whether a revision changed the answer)."""
    na = None if a is None else normalize_number(a)
    nb = None if b is None else normalize_number(b)
    return na == nb
