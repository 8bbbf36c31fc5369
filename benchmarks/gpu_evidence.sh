#!/usr/bin/env bash
# The gpu evidence in one pass on one GPU machine. Run from the repository root with the pinned stack
# importable (`make install`, or an offline bundle on PYTHONPATH):
#   1. convert the default model once;
#   2. the SFT throughput benchmark alone on the GPU (benchmarks/sft_throughput.py --profile gpu);
#   3. the CUDA-only unit tests;
#   4. the gpu profile of every notebook in NBS at the same time, each limited to the time left, with the
#      sharing written into each results JSON (TUNING_LAB_RUN_NOTE) so wall times read as upper bounds;
#   5. results/gpu, the executed notebooks and the logs packed into $OUT/gpu-evidence.tgz, with summary.txt.
#   NBS="07 08 10 11 13" BUDGET=520 bash benchmarks/gpu_evidence.sh
# Where CUDA MPS starts cleanly the notebooks share the GPU through it (their small kernels then overlap);
# where it does not, they time-slice. Either way the note says which.
set -u
T0=$(date +%s); BUDGET=${BUDGET:-520}; PY=${PY:-python3}; OUT=${OUT:-runs/gpu-evidence}; NBS=${NBS:-}
L=runs/gpu-logs; mkdir -p "$OUT" "$L"; S=$OUT/summary.txt
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$S"; }
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TUNING_LAB_OFFLINE=1
log "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
$PY -c "from helpers.models import load_model; load_model('smollm2-135m-instruct'); load_model('tiny')" \
  > "$L/convert.log" 2>&1
log "model ready (rc $?)"

if [ "${BENCH:-1}" = 1 ]; then
  timeout "${BENCH_S:-240}" $PY benchmarks/sft_throughput.py --profile gpu > "$L/bench.log" 2>&1
  log "benchmark rc $?"
  grep -E "tokens/s|FAILED|skipped|^\[" "$L/bench.log" | cut -c1-300 | tee -a "$S"
fi

sharing="alone on the GPU"
if [ -n "$NBS" ] && [ "$(echo $NBS | wc -w)" -gt 1 ]; then
  mps=$(command -v nvidia-cuda-mps-control || ls /usr/local/nvidia/bin/nvidia-cuda-mps-control 2>/dev/null)
  how="time-slicing"
  if [ -n "$mps" ]; then
    export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
    mkdir -p /tmp/mps /tmp/mps-log
    if "$mps" -d && timeout 40 $PY -c "import torch; assert torch.ones(2, device='cuda').sum().item() == 2"; then
      how="CUDA MPS"
    else
      echo quit | "$mps" >/dev/null 2>&1; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    fi
  fi
  sharing="at the same time as the gpu runs of notebooks $NBS on one GPU ($how), so wall time is an upper bound"
fi
log "notebooks: $NBS, $sharing"
export TUNING_LAB_RUN_NOTE="$sharing"
nvidia-smi dmon -s um -d 5 > "$L/gpu_util.log" 2>&1 &
DMON=$!
NBT=$(( $(left) - 25 ))
log "each notebook limited to ${NBT}s"
PIDS=()
for nb in $NBS; do
  OMP_NUM_THREADS=2 timeout "$NBT" $PY -m helpers.curriculum run --profile gpu --nb "$nb" > "$L/gpu_$nb.log" 2>&1 &
  PIDS+=($!)
done
timeout 120 $PY -m pytest -q -p no:cacheprovider tests -k cuda > "$L/pytest_cuda.log" 2>&1
log "cuda tests rc $? ($(tail -1 "$L/pytest_cuda.log"))"
for pid in "${PIDS[@]}"; do wait "$pid"; done
kill "$DMON" 2>/dev/null
pkill -f ipykernel_launcher 2>/dev/null  # kernels of notebooks stopped at their limit
for f in "$L"/gpu_*.log; do [ -e "$f" ] && log "$(basename "$f"): $(grep -E "ok in|FAILED" "$f" | tail -1 | cut -c1-200)"; done
tar czf "$OUT/gpu-evidence.tgz" results/gpu runs/gpu "$L" 2>/dev/null
log "packed $(du -h "$OUT/gpu-evidence.tgz" | cut -f1)"
