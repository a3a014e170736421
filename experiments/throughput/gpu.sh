#!/usr/bin/env bash
# The GPU check, prepared: the bench at the user's scale and the paper-scale study, on one CUDA device, written as
# the tables the throughput and paper_scale READMEs show.
#
#   bash experiments/throughput/gpu.sh bench OUT         # the bench: 64 px, 150 px, 224 px ResNet-50 (~5 min)
#   bash experiments/throughput/gpu.sh paper_scale OUT   # experiment=paper_scale, timed (~10 min on one large GPU)
#   bash experiments/throughput/gpu.sh all OUT           # both, one after the other
#
# Needs the project installed with a CUDA build of PyTorch (pip install -e .); nothing is downloaded. OUT (default
# results/gpu) receives device.txt, bench/ (bench.md, bench.csv, ...), paper_scale/ (the run's folder),
# paper_scale_time.txt and table.md, the summary to paste into experiments/throughput/README.md.
set -euo pipefail
stage=${1:-all}
out=${2:-results/gpu}
mkdir -p "$out"
export HARNESS_CACHE_DIR=${HARNESS_CACHE_DIR:-$out/cache}
python - <<'PY' > "$out/device.txt"
import torch
assert torch.cuda.is_available(), "no CUDA device: this script measures a GPU"
p = torch.cuda.get_device_properties(0)
print(f"{p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")
PY
cat "$out/device.txt"

bench() {
  python -m harness.bench device=cuda repeats=3 'variants=[bf16,fp16,tf32,compile]' references.enabled=false \
    'settings=[{image_size: 64, width: 0.5, n_images: 256}, {image_size: 150, width: 1.0, n_images: 64}, {image_size: 224, network: resnet50, n_images: 32}]' \
    hydra.run.dir="$out/bench"
}

paper_scale() {
  /usr/bin/time -v python -m harness experiment=paper_scale device=cuda hydra.run.dir="$out/paper_scale" \
    2> "$out/paper_scale_time.txt" > "$out/paper_scale.log"
}

table() {
  {
    echo "# GPU check: $(cat "$out/device.txt")"
    echo
    echo "Command: \`bash experiments/throughput/gpu.sh $stage OUT\` ($(date -u +%Y-%m-%d))."
    if [ -s "$out/bench/bench.md" ]; then
      echo; echo "## Bench (ratios to the limit measured in the same run)"; echo; echo '```'; cat "$out/bench/bench.md"; echo '```'
    fi
    if [ -s "$out/paper_scale/summary.md" ]; then
      echo; echo "## experiment=paper_scale"; echo
      grep -E "Elapsed \(wall|Maximum resident" "$out/paper_scale_time.txt" | sed 's/^\s*/- /'
      echo; cat "$out/paper_scale/summary.md"
    fi
  } > "$out/table.md"
  echo "wrote $out/table.md"
}

case "$stage" in
  bench) bench ;;
  paper_scale) paper_scale ;;
  all) bench; paper_scale ;;
  *) echo "usage: $0 bench|paper_scale|all [OUT]" >&2; exit 2 ;;
esac
table
