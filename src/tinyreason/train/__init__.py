"""Training: thin layers over TRL and PEFT that produce adapters any backend loads.

    examples.py   training examples: GSM8K human traces or a traces file, seeded selection, prompt rendering
    sft.py        `tinyreason train sft`: LoRA / QLoRA supervised fine-tuning with TRL's SFTTrainer
    checks.py     pipeline checks recorded in every run: prompt parity, adapter active, loss curve
    merge.py      `tinyreason train merge`: adapter + base -> a standalone model folder
    memorize.py   `tinyreason memorize`: the memorization audit (can the pipeline learn k examples by heart?)
    overfit.py    `tinyreason inspect-memorization` tables and results/OVERFIT_REPORT.md

Everything here needs the `train` extra (peft, trl): pip install 'tinyreason[train]'.
"""
