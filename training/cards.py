"""Writes the model cards beside the demo models from the `avi eval --json` results and training logs of train.sh."""
import argparse
import json
import os
import re

import onnx

from common import sha256

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PILLS = ("Pills Detection v3, Roboflow Universe, seblful/pills-detection-s9ywn "
         "(https://universe.roboflow.com/seblful/pills-detection-s9ywn), CC BY 4.0")


def load(runs: str, name: str):
    path = os.path.join(runs, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def run_log(runs: str, log: str) -> dict:
    """What a trainer's log says of its run (its first line and its last), so the card cannot disagree with it."""
    text = open(os.path.join(runs, log)).read()
    first = text.splitlines()[0]
    count = lambda pattern: int(m.group(1)) if (m := re.search(pattern, first)) else 0
    steps = re.search(r"(\d+) steps of (\d+)", first)
    took = re.findall(r"after (\d+) s", text)
    return {"steps": f"{int(steps.group(1)):,} steps of {steps.group(2)}", "time": f"{int(took[-1]) / 60:.0f} min" if took else "?",
            "frames": count(r"(\d+) synthetic frames"), "photos": count(r"(\d+) real photos"),
            "share": count(r"(\d+) % of inputs"), "crops": count(r"(\d+) crops")}


def describe(path: str) -> dict:
    proto = onnx.load(path)
    meta = {p.key: p.value for p in proto.metadata_props}
    dims = lambda v: "x".join(d.dim_param or str(d.dim_value) for d in v.type.tensor_type.shape.dim)
    return {"meta": meta, "input": dims(proto.graph.input[0]), "output": dims(proto.graph.output[0]),
            "size": os.path.getsize(path), "sha": sha256(path)}


def f3(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def detector_card(args, runs) -> str:
    model = os.path.join(ROOT, "models", "pill-detector.onnx")
    d = describe(model)
    synth, synth_demo, real = load(runs, "detector-synth"), load(runs, "detector-synth-nms45"), load(runs, "detector-real")
    run = run_log(runs, "detector.log")
    used_real = run["photos"] > 0
    lines = [
        "# pill-detector.onnx: the demo unit detector",
        "",
        "Finds tablets and capsules (one class, `pill`) on a conveyor, for the demo flow and the tests. "
        "A demonstration model: it has never seen a real production line; train your own for one.",
        "",
        "| | |", "| --- | --- |",
        f"| file | `models/pill-detector.onnx`, {d['size'] / 1e6:.1f} MB |",
        f"| SHA-256 | `{d['sha']}` |",
        f"| input | `images` {d['input']}, RGB 0..1, letterboxed (grey 114) as Ultralytics does |",
        f"| output | `output0` {d['output']}: cx, cy, w, h in input pixels and the `pill` score (Ultralytics YOLOv8 layout) |",
        f"| metadata | task `{d['meta'].get('task')}`, names `{d['meta'].get('names')}`, imgsz `{d['meta'].get('imgsz')}` |",
        "| architecture | anchor-free, YOLOv8-like: residual backbone, feature pyramid at strides 8, 16 and 32, per-cell score and box-side distances; trained from scratch (no pretrained weights) |",
        f"| training time | {run['time']} on 2 CPU cores ({run['steps']}) |",
        "| licence | Apache-2.0, as the package" + ("; trained in part on CC BY 4.0 photos, attributed below" if used_real else "") + " |",
        "",
        "## Data",
        "",
        f"- `avi synth --frames {args.train_frames} --seed {args.train_seed} --val-fraction 0.1`: the {run['frames']:,} training frames (640x480), "
        "at random scales (0.55 to 2.4 times the letterbox size), positions, flips, quarter turns and colour shifts.",
    ]
    if used_real:
        lines.append(f"- {run['share']} % of the training inputs drawn from the {run['photos']} photos of the `train` split of {PILLS}, "
                     "capsules and tablets as one class, with the same augmentation. Its `valid` and `test` splits were not used for training.")
    lines += ["", "## Figures", "",
              f"Confidence {args.conf} (the demo flow's), NMS IoU 0.7 for mAP as Ultralytics `val`; `avi eval` (docs/eval.md).", "",
              "| set | images | units | mAP@50 | mAP@50:95 | precision | recall | F1 |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    sets = ((f"`avi synth` seed {args.eval_seed}, 300 frames (never trained on)", synth),
            ("the same, at the demo's NMS IoU 0.45 (`--iou 0.45`)", synth_demo),
            ("real pills, valid + test (`--single-class`)", real))
    for name, r in sets:
        if r:
            lines.append(f"| {name} | {r['dataset']['images']} | {r['counts']['truth']} | {f3(r['map50'])} | {f3(r['map50_95'])} | {f3(r['precision'])} | {f3(r['recall'])} | {f3(r['f1'])} |")
    lines += ["", "Commands (from the repository root; `training/train.sh` runs them all):", "", "```",
              f"node bin/avi.js synth --out training/data/synth-s{args.eval_seed} --frames 300 --seed {args.eval_seed} --val-fraction 0",
              f"node bin/avi.js eval --model models/pill-detector.onnx --dataset training/data/synth-s{args.eval_seed}/detect --split all --conf {args.conf} [--iou 0.45]",
              f"node bin/avi.js eval --model models/pill-detector.onnx --dataset ../shared/fixtures/datasets/pills-roboflow-coco --split valid,test --single-class --conf {args.conf}",
              "```", "", "## Limits", "",
              "- Trained on drawn frames: real lighting, motion blur, dense piles and printed blister foil are harder (see the real-photo figures).",
              "- Units from about 12 to 250 pixels long at the model's 320x320 input (24 to 500 in a 640-pixel frame); much smaller or larger ones are missed.",
              "- Touching units are found one by one; heavily overlapping ones (a heap) are not what it was made for."]
    if used_real:
        lines += ["", "## Attribution", "", f"Real pill photos: {PILLS}. Provided by a Roboflow user; exported by Roboflow (640x640 stretch, flips, crops)."]
    return "\n".join(lines) + "\n"


def classifier_card(args, runs) -> str:
    model = os.path.join(ROOT, "models", "pill-defects.onnx")
    d = describe(model)
    r = load(runs, "classifier-synth")
    run = run_log(runs, "classifier.log")
    lines = [
        "# pill-defects.onnx: the demo defect classifier",
        "",
        "Says what is wrong with one unit, from its crop: `good`, `edge_defect` (chipped edge), `crack`, `spot` "
        "(spots and discolouration) or `broken`. For the demo flow and the tests; a demonstration model only.",
        "",
        "| | |", "| --- | --- |",
        f"| file | `models/pill-defects.onnx`, {d['size'] / 1e6:.2f} MB |",
        f"| SHA-256 | `{d['sha']}` |",
        f"| input | `images` {d['input']} (batch dynamic), RGB 0..1; the crop as avi-crop cuts it (box + 10 % a side), stretched |",
        f"| output | `output0` {d['output']}: probabilities, in the order of the names |",
        f"| metadata | task `{d['meta'].get('task')}`, names `{d['meta'].get('names')}`, imgsz `{d['meta'].get('imgsz')}` |",
        "| architecture | small residual CNN (4 stages, global average pool, one linear layer), trained from scratch |",
        f"| training time | {run['time']} on 2 CPU cores ({run['steps']}, classes drawn equally often) |",
        "| licence | Apache-2.0, as the package; trained only on frames drawn by `avi synth` |",
        "",
        "## Data",
        "",
        f"The {run['crops']:,} unit crops of `avi synth --frames {args.train_frames} --seed {args.train_seed} --val-fraction 0.1` (`classify/train`), "
        "shifted and scaled by a few percent (detector boxes are never exact), turned, flipped and colour-shifted.",
        "", "## Figures", "",
    ]
    if r:
        lines += [f"`avi synth` seed {args.eval_seed}, 300 frames never trained on: {r['dataset']['images']} crops, accuracy {f3(r['accuracy'])}.", "",
                  "| class | crops | precision | recall |", "| --- | --- | --- | --- |"]
        lines += [f"| {c['class']} | {c['support']} | {f3(c['precision'])} | {f3(c['recall'])} |" for c in r["perClass"]]
        labels = r["confusion"]["labels"]
        lines += ["", "Confusion matrix (rows truth, columns predicted):", "", "| | " + " | ".join(labels) + " |", "| --- " * (len(labels) + 1) + "|"]
        lines += [f"| {labels[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(r["confusion"]["matrix"])]
    lines += ["", "Commands (from the repository root; `training/train.sh` runs them all):", "", "```",
              f"node bin/avi.js synth --out training/data/synth-s{args.eval_seed} --frames 300 --seed {args.eval_seed} --val-fraction 0",
              f"node bin/avi.js eval --model models/pill-defects.onnx --dataset training/data/synth-s{args.eval_seed}/classify --split all",
              "```", "", "## Limits", "",
              "- Knows only the drawn defects of `avi synth`; real defects look different.",
              "- Scored on crops cut at the truth boxes; the demo feeds it crops cut at detector boxes (test/demo-models.test.ts checks that path).",
              "- Units cut by the frame edge have no crop in training, so what it says of them means little."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--train-seed", type=int, required=True)
    ap.add_argument("--train-frames", type=int, required=True)
    ap.add_argument("--eval-seed", type=int, required=True)
    ap.add_argument("--conf", type=float, required=True)
    args = ap.parse_args()
    for name, card in (("pill-detector.md", detector_card), ("pill-defects.md", classifier_card)):
        with open(os.path.join(ROOT, "models", name), "w") as f:
            f.write(card(args, args.runs))
        print("wrote models/" + name)


if __name__ == "__main__":
    main()
