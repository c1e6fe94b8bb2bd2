"""tinyreason: can a small instruct LLM be made to reason, and which lever works?

Trustworthy GSM8K evaluation (one grader, seeded subsets, resumable runs with Wilson intervals),
inference-time methods, analysis and training for small models. See README.md.
"""

__version__ = "0.1.0"
