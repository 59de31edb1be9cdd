#!/usr/bin/env bash
# Session 4, device call 2 (nvidia-h200-x4). GPU 0: filters fast paths adopted (wip/flt-fast 6affd56) tests
# during the LibTorch build, KLA forward-saved checkpoints (wip/kla-ckpt 654d597) tests, the trainer's CUDA-graph
# tests and eager-vs-graph speed, then the KLA and filters benches. GPUs 1-3: the training experiment from a
# snapshot of main's HEAD (.gpu-bundle-src) with --cuda-graph auto. Logs packed into $OUT/logs.tar.gz.
set -u
root=$PWD; o=/tmp/o; mkdir -p $o/train $o/kla $o/flt $o/graph
t0=$SECONDS; stamp() { echo "[call2 $((SECONDS - t0)) s] $*" | tee -a $o/timeline.txt; }
# time_for N: true when N more seconds still end before t = 545 s (the experiment's end)
time_for() { [ $((SECONDS - t0 + $1)) -le 545 ] || { stamp "skipped (no time): $2"; false; }; }
nvidia-smi -L > $o/gpus.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# 1. LibTorch build of the snapshot, in the background.
src=$root/.gpu-bundle-src; build=$src/build-torch-gpu
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
( cd $src && cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DKALMANSCAN_WITH_TORCH=ON -DKALMANSCAN_WITH_QT=OFF -DCMAKE_PREFIX_PATH="$torch_prefix" > $o/train/build.txt 2>&1 \
  && cmake --build $build -j 60 --target kalmanscan-train kalmanscan_torch_tests >> $o/train/build.txt 2>&1; echo $? > $o/train/build.rc ) &
export CUDA_VISIBLE_DEVICES=0
# 2. GPU 0 while it builds: filters and KLA tests.
B=.gpu-bundle-flt3
OUT=$o/flt LD_LIBRARY_PATH=$root/$B timeout 130 bash scripts/gpu-run --bundle $B --no-bench --gtest-filter 'Gpu.*:Errors.*:FastSteps.*' > $o/flt/stdout.txt 2>&1
stamp "filters tests rc $?"
mkdir -p /work; [ -e /work/wt-kla-ckpt ] || ln -s "$root" /work/wt-kla-ckpt
OUT=$o/kla timeout 120 bash scripts/gpu-run --bundle .gpu-bundle-kla-ckpt --no-bench --gtest-filter 'Cuda*:Step*' > $o/kla/stdout.txt 2>&1
stamp "kla tests rc $?"
# The trainer: the snapshot's build, or call 1's binaries (53beee3, no CUDA graphs) if that build failed.
pick_train() {
  while [ ! -e $o/train/build.rc ]; do sleep 2; done
  train=$build/apps/kalmanscan-train; tests=$build/tests/torch/kalmanscan_torch_tests
  export LD_LIBRARY_PATH=$torch_lib
  if [ "$(cat $o/train/build.rc)" != 0 ]; then
    train=$root/.gpu-bundle-train1/kalmanscan-train; export LD_LIBRARY_PATH=$root/.gpu-bundle-train1:$torch_lib
  fi
}
# 3. The experiment on GPUs 1-3 from the end of the build until t = 545 s.
( pick_train
  [ "$(cat $o/train/build.rc)" = 0 ] || { stamp "BUILD FAILED: training with call 1's binaries"; grep -E "error" $o/train/build.txt | head -20 > $o/train/build_errors.txt; }
  stamp "experiment starts"
  CUDA_VISIBLE_DEVICES= PYTHONUNBUFFERED=1 python3 $src/scripts/train-experiments --budget $((545 - (SECONDS - t0))) --bin $train \
    --out $o/train/out --gpu-ids 1,2,3 --jobs-per-gpu 10 a5:lengths=8:blocks=3 a5:lengths=8:blocks=4 tune a5:lengths=4:blocks=2 \
    a5:lengths=16:blocks=1 a5:lengths=20:blocks=1 a5:lengths=12:blocks=2 mqar > $o/train/experiment.txt 2>&1
  stamp "experiment done" ) &
exp=$!
B=.gpu-bundle-kla-ckpt
time_for 100 "kla bench" && LD_LIBRARY_PATH=$root/$B timeout 100 $B/kalmanscan_kla_gpu_bench --kernels wide_previous,wide,wide+saved,wide+saved8,wide+saved16,wide+saved128,automatic+saved --csv $o/kla/kla.csv > $o/kla/bench.log 2>&1
stamp "kla bench rc $?"
pick_train
# 4. GPU 0: graph tests, eager vs graph speed, then benches.
(cd $src && timeout 150 $tests --gtest_brief=1 --gtest_filter='*TrainCudaGraph*:StepGraph.*:MultiTensorStep.*:Train.*' > $o/graph/tests.txt 2>&1; echo "exit $?" >> $o/graph/tests.txt)
stamp "graph tests: $(tail -1 $o/graph/tests.txt)"
time_for 90 "graph speed" && { timeout 90 bash $src/bench/kla/train_cuda_graph_bench.sh $train 1000 "kla attention" "2" > $o/graph/speed.txt 2>&1; stamp "graph speed rc $?"; }
B=.gpu-bundle-flt3; X=$B/kalmanscan_filters_gpu_bench; Y=$B/before/kalmanscan_filters_gpu_bench
export LD_LIBRARY_PATH=$root/$B
time_for 30 "flt n4" && timeout 30 $X --sizes 4 --cpu-cap 100000 --reps 10 --variants warm,cold > $o/flt/n4.log 2>&1; stamp "flt n4 rc $?"
time_for 20 "flt before" && timeout 20 $Y --sizes 4 --cpu-cap 0 > $o/flt/before_n4.log 2>&1; stamp "flt before rc $?"
time_for 25 "flt sizes" && timeout 25 $X --sizes 2,6,12 --cpu-cap 10000 --max-steps 1000000 --max-steps-12 1000000 --variants warm,cold > $o/flt/n2612.log 2>&1; stamp "flt sizes rc $?"
wait $exp
# 5. Pack: logs; the results (finished runs without checkpoints; unfinished runs' checkpoints in <= 3 parts of 15 MB).
cd $o/train/out && find . -name checkpoint.pt | while read -r c; do [ -e "$(dirname "$c")/summary.json" ] && echo "$c"; done > /tmp/exclude
tar czf /tmp/train.tar.gz -X /tmp/exclude . ; size=$(stat -c %s /tmp/train.tar.gz)
if [ $size -gt 45000000 ]; then tar czf /tmp/train.tar.gz --exclude=checkpoint.pt --exclude=checkpoint.pt.tmp . ; fi
split -b 15000000 -d /tmp/train.tar.gz $OUT/train.tar.gz.part
cd $o && rm -rf train/out && tar czf $OUT/logs.tar.gz . && ls -la $OUT; stamp "packed"
