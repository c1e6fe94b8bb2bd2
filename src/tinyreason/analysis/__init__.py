"""Analysis of finished runs, computed only from run directories (config.json + samples.jsonl), so any
analysis can be redone later without the model and whatever method produced the runs.

    loading      load a run, align two runs on their shared questions (gold checked)
    paired       transition matrix (both right / fixed / regressed / both wrong) + exact McNemar
    mirage       first-100 vs all, minimum detectable effect, "indistinguishable from noise" warnings
    leaderboard  LEADERBOARD.md / .csv / .png with Wilson intervals and paired tests vs a baseline
    arith        safe arithmetic evaluator (a small parser; never eval of model text)
    claims       stated computations in a chain (a op b = c, <<a*b=c>>), each checked true or false
    taxonomy     classify a wrong answer: arithmetic / unit confusion / relationship / other
    regressions  INFERENCE_ANALYSIS.md: base-right / other-wrong cases, classified, side by side
    plots        matplotlib (Agg) PNGs: accuracy bars, accuracy vs tokens (Pareto front), transition heat map
    show         the raw generations of one question, for reading
"""
