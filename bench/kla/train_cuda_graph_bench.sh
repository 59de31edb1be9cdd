#!/usr/bin/env bash
# The trainer's CUDA-graph step against the eager step it wraps (issue 6), side by side in one call:
# the same A5 run (L = 8, d_model 128, batch 256, 2 heads, state size 16) with --cuda-graph off, then
# on, per mixer and block count; prints the training loop's steps/s of both and their ratio. The
# losses of the two agree (tests: *TrainCudaGraph*), so only the cost differs.
#   bench/kla/train_cuda_graph_bench.sh [BIN] [STEPS] [MIXERS] [BLOCKS]
#   defaults: build/apps/kalmanscan-train 2000 kla 2     e.g. ... 2000 "kla gla attention" "1 2"
set -euo pipefail
bin=${1:-build/apps/kalmanscan-train}
steps=${2:-2000}
mixers=${3:-kla}
blocks_list=${4:-2}
common=(--task a5 --d-model 128 --heads 2 --state-size 16 --seq-len 8 --batch 256 --steps "$steps" --lr 1e-3
        --warmup 200 --eval-every 1000000 --eval-sequences 256 --log-every 100 --seed 0 --device cuda --quiet)
rate() {  # steps/s of the training loop, from kalmanscan-train's "training loop: ... = R steps/s" line
  "$bin" "${common[@]}" "$@" | sed -n 's/.*training loop: .* = \([0-9.e+-]*\) steps\/s.*/\1/p'
}
echo "mixer blocks steps eager_steps_per_s graph_steps_per_s speedup"
for mixer in $mixers; do
  for blocks in $blocks_list; do
    eager=$(rate --mixer "$mixer" --blocks "$blocks" --cuda-graph off)
    graph=$(rate --mixer "$mixer" --blocks "$blocks" --cuda-graph on)
    echo "$mixer $blocks $steps $eager $graph $(awk -v a="$eager" -v b="$graph" 'BEGIN { printf "%.2f", b / a }')"
  done
done
