"""A tinyreason plug-in: a method, a prompt and a task, registered from this file (docs/extending.md).

    tinyreason eval --include docs/examples/weighted_vote.py --method weighted-vote --n 5 --task docs/examples/svamp.yaml
"""

from tinyreason.methods.base import Method, SampledConfig, register_method
from tinyreason.methods.records import Section
from tinyreason.prompts import PromptTemplate, register
from tinyreason.types import Prediction


@register_method
class WeightedVote(Method):
    """Self-consistency where a sample that shows its work counts more: weight = 1 + log2(1 + its tokens)."""

    name = "weighted-vote"
    Config = SampledConfig
    # what its records add to metrics.json and the run's summary: the questions where the weights overruled the count
    record_sections = (Section("overruled", lambda samples: sum(s["extra"].get("overruled", False) for s in samples)
                               if any("overruled" in s.get("extra", {}) for s in samples) else None,
                               lambda m: f"the weights overruled the plain count on {m['overruled']} questions"),)

    def solve(self, backend, problems):
        import math

        preds = []
        for gens in self.draw_samples(backend, problems):  # n samples of the answer prompt, each graded
            score: dict[str, float] = {}
            for g in gens:
                if g.answer is not None:
                    score[g.answer] = score.get(g.answer, 0.0) + 1 + math.log2(1 + g.n_tokens)
            best = max(score, key=lambda a: (score[a], a)) if score else None
            counts = [g.answer for g in gens if g.answer is not None]
            plain = max(set(counts), key=lambda a: (counts.count(a), a)) if counts else None
            strict = next((g.answer_strict for g in gens if g.answer == best and g.answer_strict), None)
            preds.append(Prediction(best, strict, gens, calls=1, extra={"scores": score, "overruled": best != plain}))
        return preds


register(PromptTemplate(name="show-work", user="{question}\nShow each step, then end with '#### <number>'.",
                        system="You are a careful math tutor.", used_by="weighted-vote (docs/examples)"))
