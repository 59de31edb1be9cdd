#!/usr/bin/env bash
# Session 5's device calls (nvidia-h200-x4), run from the repository root with .gpu-bundle-src (a snapshot of HEAD
# with .deps) carried: CALL=1 builds the trainer and the torch tests in /tmp/s5/build, runs the torch tests on
# GPU 0 and then MQAR T = 1024 there, and A5 (4 blocks where the minimum is still open) with MQAR T = 256 on
# GPUs 1-3. CALL=2, 3 (the same warm machine, build and results kept in /tmp/s5) continue every run on all four
# GPUs: finished runs are skipped, cut-off ones resume from their checkpoints. Each call sends back the results
# without checkpoints (train.tar.gz) and its logs.
set -u
CALL=${CALL:?CALL=1, 2 or 3}; END=${END:-560}
root=$PWD; o=/tmp/o$CALL; W=/tmp/s5; mkdir -p $o $W/out
t0=$SECONDS; stamp() { echo "[call$CALL $((SECONDS - t0)) s] $*" | tee -a $o/timeline.txt; }
nvidia-smi -L > $o/gpus.txt
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
src=$root/.gpu-bundle-src; build=$W/build; train=$build/apps/kalmanscan-train
export LD_LIBRARY_PATH=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
if [ ! -x $train ]; then
  stamp "building $(cat $src/.commit 2>/dev/null)"
  cmake -S $src -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DKALMANSCAN_WITH_TORCH=ON \
    -DKALMANSCAN_WITH_QT=OFF -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
    > $o/build.txt 2>&1 && cmake --build $build -j 60 --target kalmanscan-train kalmanscan_torch_tests >> $o/build.txt 2>&1
  rc=$?; stamp "build rc $rc"; [ $rc = 0 ] || { grep -E "error" $o/build.txt | head -40; tail -5 $o/build.txt; exit 1; }
fi
A5="a5:lengths=12,16,20:blocks=4 a5:lengths=4:mixers=gla:blocks=4"
experiments() {  # gpu-ids jobs-per-gpu log grids...
  local ids=$1 jobs=$2 log=$3; shift 3
  CUDA_VISIBLE_DEVICES= python3 $src/scripts/train-experiments --budget $((END - (SECONDS - t0))) --bin $train \
    --out $W/out --gpu-ids $ids --jobs-per-gpu $jobs "$@" > $o/$log 2>&1
  stamp "experiments on GPUs $ids done: $(tail -1 $o/$log)"
}
if [ $CALL = 1 ]; then
  experiments 1,2,3 14 train-a.txt $A5 mqar:lengths=256 &
  (cd $src && CUDA_VISIBLE_DEVICES=0 timeout 240 $build/tests/torch/kalmanscan_torch_tests --gtest_brief=1 \
     > $o/torch-tests.txt 2>&1; echo "exit $?" >> $o/torch-tests.txt)
  stamp "torch tests: $(grep -E 'PASSED|FAILED' $o/torch-tests.txt | tr '\n' ' ') $(tail -1 $o/torch-tests.txt)"
  experiments 0 16 train-b.txt mqar:lengths=1024 &
  wait
else
  experiments 0,1,2,3 14 train.txt $A5 mqar
fi
python3 $src/scripts/train-experiments --list --out $W/out $A5 mqar > $o/list.txt 2>&1
(cd $W/out && tar czf $OUT/train.tar.gz --exclude='checkpoint.pt*' .)
(cd $o && tar czf $OUT/logs.tar.gz .); ls -la $OUT; stamp "packed"
