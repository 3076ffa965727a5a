#!/usr/bin/env bash
# Makes the two demo models in models/ from nothing but this repository (and, when present, the real pill
# photos in ../shared/fixtures), evaluates them on a synthetic set of a seed training never saw, and writes
# their model cards. CPU only; about 50 minutes on 2 cores. See training/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIN_SEED=1          # avi synth seed of the training frames
TRAIN_FRAMES=1500     # of which the last 10 % are a val split, not trained on
EVAL_SEED=7777        # avi synth seed of the held-out frames: never used for training
DEMO_CONF=0.5         # detector confidence in examples/demo-pill-line.json
PILLS=${PILLS_COCO:-../shared/fixtures/datasets/pills-roboflow-coco}
PY=training/.venv/bin/python
RUNS=training/runs

if [ ! -x "$PY" ]; then
  python3 -m venv training/.venv
  training/.venv/bin/pip install --quiet -r training/requirements.txt
fi
[ -d dist/src ] || npm run build
mkdir -p "$RUNS"

node bin/avi.js synth --out training/data/synth-s$TRAIN_SEED --frames $TRAIN_FRAMES --seed $TRAIN_SEED --val-fraction 0.1 --overwrite
node bin/avi.js synth --out training/data/synth-s$EVAL_SEED --frames 300 --seed $EVAL_SEED --val-fraction 0 --overwrite

real=()
if [ -f "$PILLS/train/_annotations.coco.json" ]; then
  real=(--real "$PILLS/train/_annotations.coco.json")
else
  echo "train.sh: $PILLS not found; the detector is trained on synthetic frames only" >&2
fi
$PY training/detector.py --synth training/data/synth-s$TRAIN_SEED "${real[@]}" --steps 3000 --out models/pill-detector.onnx | tee $RUNS/detector.log
$PY training/classifier.py --synth training/data/synth-s$TRAIN_SEED --steps 3000 --out models/pill-defects.onnx | tee $RUNS/classifier.log

evaluate() { # name, then avi eval arguments
  local name=$1; shift
  node bin/avi.js eval "$@" --json --report $RUNS/$name.html > $RUNS/$name.json
}
evaluate detector-synth --model models/pill-detector.onnx --dataset training/data/synth-s$EVAL_SEED/detect --split all --conf $DEMO_CONF
evaluate detector-synth-nms45 --model models/pill-detector.onnx --dataset training/data/synth-s$EVAL_SEED/detect --split all --conf $DEMO_CONF --iou 0.45
evaluate classifier-synth --model models/pill-defects.onnx --dataset training/data/synth-s$EVAL_SEED/classify --split all
if [ -d "$PILLS" ]; then
  evaluate detector-real --model models/pill-detector.onnx --dataset "$PILLS" --split valid,test --single-class --conf $DEMO_CONF
fi
$PY training/cards.py --runs $RUNS --train-seed $TRAIN_SEED --train-frames $TRAIN_FRAMES --eval-seed $EVAL_SEED --conf $DEMO_CONF
