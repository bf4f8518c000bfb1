#!/usr/bin/env bash
# Everything matsign checks on a CUDA machine, in one go: the test suite on the GPU backends
# (CuPy and PyTorch CUDA), then the GPU benchmark at κ = 1e3 and κ = 10.
# Usage: bash benchmarks/gpu_check.sh [OUTDIR]   (logs and CSVs go to OUTDIR, default gpu-results)
set -u -o pipefail
out=${1:-gpu-results}
mkdir -p "$out"
cd "$(dirname "$0")/.."
python3 -c "import torch, cupy; print(torch.cuda.get_device_name(), 'torch', torch.__version__, 'cupy', cupy.__version__)" \
  | tee "$out/device.txt"
MATSIGN_TEST_BACKENDS=cupy,torch-cuda python3 -m pytest -q -p no:cacheprovider 2>&1 | tee "$out/tests.log"
tests=$?
sizes=1024,4096,4096x16384,8192,16x1024x1024
python3 benchmarks/gpu.py --device cuda --sizes "$sizes" --csv "$out/gpu-kappa1e3.csv" 2>&1 | tee "$out/gpu-kappa1e3.md"
python3 benchmarks/gpu.py --device cuda --sizes 4096,8192 --kappa 10 --csv "$out/gpu-kappa10.csv" 2>&1 | tee "$out/gpu-kappa10.md"
exit "$tests"
