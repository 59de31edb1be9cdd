#!/usr/bin/env bash
# Session 4, device call 1 (nvidia-h200-x4): GPU 0 runs the KLA and filters branch bundles (tests + side-by-side
# benches), GPUs 1-3 train (scripts/gpu-train). All logs are packed into $OUT/logs.tar.gz (8 files come back at most).
set -u
root=$PWD; o=/tmp/o; mkdir -p $o/train $o/kla $o/flt
nvidia-smi -L > $o/gpus.txt
(OUT=$o/train bash scripts/gpu-train --budget 540 --bench-seconds 0 --no-tests --jobs-per-gpu 14 -- --gpu-ids 1,2,3 \
   a5:lengths=8:blocks=2 a5:lengths=4:mixers=linear,attention:blocks=1 parity mqar a5:lengths=12:blocks=1 \
   > $o/train/stdout.txt 2>&1) &
export CUDA_VISIBLE_DEVICES=0
# KLA (wip/kla-bwd 818d8f9): tests on both backwards, bench old vs new, and main's a9b6b93 bench.
mkdir -p /work; [ -e /work/wt-kla-bwd ] || ln -s "$root" /work/wt-kla-bwd
B=.gpu-bundle-kla-bwd
OUT=$o/kla timeout 220 bash scripts/gpu-run --bundle $B --gtest-filter 'Cuda*:Step*' -- --kernels wide_previous,wide --csv $o/kla/kla.csv > $o/kla/stdout.txt 2>&1
LD_LIBRARY_PATH=$B timeout 100 $B/kla_gpu_bench_a9b6b93 > $o/kla/a9b6b93.txt 2>&1
# Filters (wip/flt-fast f535ead, before the merge of main: GPU code identical): tests, then n = 4 variants, chunk sizes, n = 2, 6.
B=.gpu-bundle-flt; export LD_LIBRARY_PATH=$root/$B; X=$B/kalmanscan_filters_gpu_bench
OUT=$o/flt timeout 200 bash scripts/gpu-run --bundle $B --gtest-filter 'Gpu.*:Errors.*:FastSteps.*' --no-bench > $o/flt/stdout.txt 2>&1
timeout 60 $B/before/kalmanscan_filters_gpu_bench --sizes 4 --cpu-cap 100000 > $o/flt/before_n4.log 2>&1
timeout 90 $X --sizes 4 --cpu-cap 100000 --reps 10 --variants base,f,o,r,d,v,p,ford,fordv,fordvp > $o/flt/n4.log 2>&1
timeout 60 $X --sizes 4 --min-steps 1000000 --max-steps 1000000 --cpu-cap 0 --reps 10 --chunks 16,32,128 --variants base,ford,fordvp > $o/flt/chunks.log 2>&1
timeout 60 $X --sizes 2,6 --cpu-cap 10000 --variants base,ford,fordv > $o/flt/n26.log 2>&1
echo "gpu0 done at $SECONDS s" > $o/gpu0.txt
wait
cd $o && for f in train/train.tar.gz train/kalmanscan-train train/libkalmanscan_torch.so; do [ -e $f ] && mv $f $OUT/; done
tar czf $OUT/logs.tar.gz . && ls -la $OUT
