"""A tinyreason plug-in: a GRPO reward, registered from this file (docs/extending.md).

    tinyreason train grpo --include docs/examples/checked_steps.py --recipe my-grpo.yaml --out runs/grpo-steps
    # my-grpo.yaml:
    #   rewards:
    #     - {name: correctness}
    #     - {name: checked-steps, weight: 0.2, options: {min_steps: 2}}
"""

import re

from tinyreason.train.rewards import register_reward

# "8 - 3 = 5", "12 x 4 = 48", "7.5 / 2.5 = 3": one arithmetic step, as GSM8K solutions write them
STEP = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "x": lambda a, b: a * b,
       "×": lambda a, b: a * b, "/": lambda a, b: a / b if b else float("nan")}


@register_reward("checked-steps")
def checked_steps(completions, *, min_steps: int = 1, **kw) -> list[float]:
    """1.0 when the completion writes at least `min_steps` arithmetic steps `a op b = c` and every one of them
    is right, else 0.0: pays for showing correct work, whatever the final answer."""
    out = []
    for text in completions:
        steps = STEP.findall(text)
        right = all(abs(OPS[op](float(a), float(b)) - float(c)) < 1e-6 for a, op, b, c in steps)
        out.append(1.0 if len(steps) >= min_steps and right else 0.0)
    return out
