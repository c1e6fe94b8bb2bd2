"""Training: thin layers over TRL and PEFT that produce adapters any backend loads.

    examples.py   training examples: GSM8K human traces or a traces file, seeded selection, prompt rendering
    sft.py        `tinyreason train sft`: LoRA / QLoRA supervised fine-tuning with TRL's SFTTrainer
    grpo.py       `tinyreason train grpo`: GRPO with TRL's GRPOTrainer, LoRA / QLoRA, resumable
    grpo_config.py  the GRPO run config (recipe fields) and the checks run before any model loads
    rewards.py    GRPO rewards by name (@register_reward; plug-ins, module:function): correctness, format, length on the one grader, the reflection probe
    watch.py      the dev-slice evaluation, metrics.jsonl, curves.png and the zero-variance warning
    checks.py     pipeline checks recorded in every run: prompt parity, adapter active, loss curve
    merge.py      `tinyreason train merge`: adapter + base -> a standalone model folder
    memorize.py   `tinyreason memorize`: the memorization audit (can the pipeline learn k examples by heart?)
    overfit.py    `tinyreason inspect-memorization` tables and results/OVERFIT_REPORT.md

Everything here needs the `train` extra (peft, trl): pip install 'tinyreason[train]'.
"""
