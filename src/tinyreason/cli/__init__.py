"""The `tinyreason` command line: `app` plus every command module, imported here to register its commands.

    tinyreason eval                                   # Qwen/Qwen2.5-0.5B-Instruct, GSM8K test, 600 questions, seed 42, greedy
    tinyreason eval --method sc --n 5 --temperature 0.7
    tinyreason eval --backend openvino --model ./qwen-dir --data ../shared/data/gsm8k/test.jsonl --limit 50
    tinyreason backends                               # every backend and its options
    tinyreason metrics runs/local                      # recompute metrics.json from samples.jsonl
"""

from tinyreason.cli import analysis, distill, evaluate, fetch, grpo, methods, reproduce, train  # noqa: F401  (register commands)
from tinyreason.cli.app import app

__all__ = ["app"]
