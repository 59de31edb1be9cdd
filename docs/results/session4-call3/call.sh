#!/usr/bin/env bash
# Session 4, device call 3 (nvidia-h200-x4), the last: the merged main's CUDA code on GPU 0 (filters bundle and
# KLA bundle built here from main, the LibTorch op/trainer built there from a snapshot of main) and the remaining
# training runs on GPUs 1-3 (results of calls 1-2 carried in .gpu-bundle-results, so finished runs are skipped).
set -u
root=$PWD; o=/tmp/o; mkdir -p $o/train $o/kla $o/flt $o/torch
t0=$SECONDS; stamp() { echo "[call3 $((SECONDS - t0)) s] $*" | tee -a $o/timeline.txt; }
END=${END:-400}
time_for() { [ $((SECONDS - t0 + $1)) -le $END ] || { stamp "skipped (no time): $2"; false; }; }
nvidia-smi -L > $o/gpus.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
src=$root/.gpu-bundle-src; build=$src/build-torch-gpu
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
( cd $src && cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DKALMANSCAN_WITH_TORCH=ON -DKALMANSCAN_WITH_QT=OFF -DCMAKE_PREFIX_PATH="$torch_prefix" > $o/torch/build.txt 2>&1 \
  && cmake --build $build -j 60 --target kalmanscan-train kalmanscan_torch_tests >> $o/torch/build.txt 2>&1; echo $? > $o/torch/build.rc ) &
# Tests built from /work/main read /work/main/../shared/fixtures.
mkdir -p /work; [ -e /work/main ] || ln -s "$root" /work/main
export CUDA_VISIBLE_DEVICES=0
B=.gpu-bundle-flt-main
OUT=$o/flt timeout 130 bash scripts/gpu-run --bundle $B --no-bench --gtest-filter 'Gpu.*:Errors.*:FastSteps.*' > $o/flt/stdout.txt 2>&1
stamp "filters tests rc $?"
B=.gpu-bundle-kla-final
OUT=$o/kla timeout 90 bash scripts/gpu-run --bundle $B --no-bench --gtest-filter 'Cuda*:Step*' > $o/kla/stdout.txt 2>&1
stamp "kla tests rc $?"
while [ ! -e $o/torch/build.rc ]; do sleep 2; done
stamp "torch build rc $(cat $o/torch/build.rc)"
train=$build/apps/kalmanscan-train; export LD_LIBRARY_PATH=$torch_lib
if [ "$(cat $o/torch/build.rc)" != 0 ]; then
  grep -E "error" $o/torch/build.txt | head -30 > $o/torch/build_errors.txt
  train=$root/.gpu-bundle-train1/kalmanscan-train; export LD_LIBRARY_PATH=$root/.gpu-bundle-train1:$torch_lib
fi
( stamp "experiment starts"
  CUDA_VISIBLE_DEVICES= PYTHONUNBUFFERED=1 python3 $src/scripts/train-experiments --budget $((END - (SECONDS - t0))) \
    --bin $train --out $root/.gpu-bundle-results --gpu-ids 1,2,3 --jobs-per-gpu 5 tune \
    a5:lengths=12:mixers=kla,linear:blocks=2 a5:lengths=12:mixers=kla,linear:blocks=3 a5:lengths=4:mixers=attention,gla:blocks=3 \
    > $o/train/experiment.txt 2>&1
  stamp "experiment done" ) &
exp=$!
(cd $src && timeout 150 $build/tests/torch/kalmanscan_torch_tests --gtest_brief=1 > $o/torch/tests.txt 2>&1; echo "exit $?" >> $o/torch/tests.txt)
stamp "torch tests: $(tail -1 $o/torch/tests.txt)"
B=.gpu-bundle-kla-final
time_for 70 "kla bench" && { LD_LIBRARY_PATH=$root/$B timeout 70 $B/kalmanscan_kla_gpu_bench --kernels wide,automatic+saved,wide+saved32 --csv $o/kla/kla.csv > $o/kla/bench.log 2>&1; stamp "kla bench rc $?"; }
B=.gpu-bundle-flt-main
time_for 30 "flt n4" && { LD_LIBRARY_PATH=$root/$B timeout 30 $B/kalmanscan_filters_gpu_bench --sizes 4 --cpu-cap 100000 --reps 10 --variants warm,cold > $o/flt/n4.log 2>&1; stamp "flt n4 rc $?"; }
time_for 60 "torch op bench" && { timeout 60 python3 $src/bench/kla/torch_scan_bench.py $build/kla/torch/libkalmanscan_torch.so --reps 5 > $o/torch/bench.txt 2>&1; stamp "torch op bench rc $?"; }
wait $exp
cd $root/.gpu-bundle-results && find . -name 'checkpoint.pt*' -delete; tar czf $OUT/train.tar.gz .
cd $o && tar czf $OUT/logs.tar.gz . && ls -la $OUT; stamp "packed"
