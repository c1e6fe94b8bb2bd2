#!/usr/bin/env bash
# Benchmark one inference method on the reference model, CPU, the standard 30-question subset.
#   benchmarks/methods_bench.sh NAME [eval options...]     e.g.  benchmarks/methods_bench.sh sc --method sc --n 5
# The run lands in runs/bench/NAME (resumable); the log with wall time in runs/bench/NAME.log.
# Runs under flock /tmp/tinyreason-cpu.lock so real-model jobs on the shared CPU run one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
model=${TINYREASON_REF_MODEL:-/root/.cache/tinyreason-ref/qwen2.5-coder-0.5b-instruct-hf}
mkdir -p runs/bench
export PYTHONPATH=$PWD/src HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
flock /tmp/tinyreason-cpu.lock bash -c '
  echo "start $(date -u +%FT%TZ)"
  s=$(date +%s)
  python -m tinyreason.cli eval --model "$0" --limit 30 --seed 42 --data /work/shared/data/gsm8k/test.jsonl \
     --batch-size 16 --out "runs/bench/$1" "${@:2}"
  echo "end $(date -u +%FT%TZ) wall_s $(( $(date +%s) - s ))"
' "$model" "$name" "$@"
