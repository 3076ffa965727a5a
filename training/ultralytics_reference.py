"""Reference boxes of a YOLOv8-layout ONNX detector, computed as Ultralytics' predictor computes them.

The parity tests compare avi-detector's boxes with these. Everything follows ultralytics 8.4
(ultralytics/utils/patches.py imread, data/augment.py LetterBox, utils/nms.py non_max_suppression,
utils/ops.py scale_boxes), reimplemented in numpy so that no PyTorch is needed:

- decode: cv2.imdecode(IMREAD_COLOR): BGR, embedded ICC profile not applied, EXIF orientation applied;
- LetterBox(auto=False, center=True): scale r = min(H / h, W / w), new size round(w r) x round(h r),
  cv2.resize INTER_LINEAR, pads round(d / 2 - 0.1) and round(d / 2 + 0.1), grey 114;
- BGR -> RGB, / 255, NCHW float32, onnxruntime on the CPU;
- NMS: candidates with best class score > conf, xywh -> xyxy, per-class offset 7680, torchvision-style
  greedy NMS (suppress IoU > iou, scores sorted descending), at most max_det;
- scale_boxes: minus the pad, divided by the per-side gain, clipped to the image.

Run (Python 3.11, from the repository root):
  python3 -m venv /tmp/ref-venv && /tmp/ref-venv/bin/pip install -r training/reference-requirements.txt
  /tmp/ref-venv/bin/python training/ultralytics_reference.py --model models/pill-detector.onnx \\
      --conf 0.25 --iou 0.45 --out test/data/ultralytics-reference/pill-detector.json example-images/line-000*.jpg
"""

import argparse
import hashlib
import json
import os
import re

import cv2
import numpy as np
import onnxruntime as ort

MAX_WH = 7680  # Ultralytics' per-class coordinate offset for class-aware NMS


def imread(path):
    """ultralytics.utils.patches.imread for JPEG/PNG: bytes through cv2.imdecode."""
    im = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if im is None:
        raise SystemExit(f"cannot decode {path}")
    return im


def letterbox(im, new_shape):
    """ultralytics.data.augment.LetterBox(new_shape, auto=False, center=True)(image=im)."""
    shape = im.shape[:2]  # h, w
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = max(round(shape[1] * r), 1), max(round(shape[0] * r), 1)  # w, h; Python's round, as upstream
    dw, dh = (new_shape[1] - new_unpad[0]) / 2, (new_shape[0] - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        im = cv2.resize(im, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def nms(boxes, scores, iou_thres):
    """torchvision.ops.nms: greedy, highest score first, drops boxes with IoU > iou_thres."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_thres]
    return np.array(keep, dtype=np.int64)


def non_max_suppression(pred, conf_thres, iou_thres, max_det):
    """ultralytics.utils.nms.non_max_suppression for one image of a [4 + nc, N] output, best class only."""
    x = pred.T  # N, 4 + nc
    x = x[x[:, 4:].max(1) > conf_thres]
    xy, wh = x[:, :2], x[:, 2:4] / 2
    box = np.concatenate([xy - wh, xy + wh], 1)
    cls = x[:, 4:]
    j = cls.argmax(1)
    conf = cls[np.arange(len(j)), j]
    keep = conf > conf_thres
    box, conf, j = box[keep], conf[keep], j[keep]
    i = nms(box + (j * MAX_WH)[:, None], conf, iou_thres)[:max_det]
    return box[i], conf[i], j[i]


def scale_boxes(img1_shape, boxes, img0_shape):
    """ultralytics.utils.ops.scale_boxes: undo the pad and the per-side gain, clip to the image."""
    gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
    new_h, new_w = (max(round(v * gain), 1) for v in img0_shape[:2])
    gain_y, gain_x = new_h / img0_shape[0], new_w / img0_shape[1]
    pad_x, pad_y = round((img1_shape[1] - new_w) / 2 - 0.1), round((img1_shape[0] - new_h) / 2 - 0.1)
    boxes = boxes.copy()
    boxes[:, [0, 2]] = ((boxes[:, [0, 2]] - pad_x) / gain_x).clip(0, img0_shape[1])
    boxes[:, [1, 3]] = ((boxes[:, [1, 3]] - pad_y) / gain_y).clip(0, img0_shape[0])
    return boxes


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    parser.add_argument("--max-det", type=int, default=300)
    parser.add_argument("--out", required=True)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # deterministic sums
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    height, width = inp.shape[2], inp.shape[3]
    images = []
    for path in args.images:
        im0 = imread(path)
        im = letterbox(im0, (height, width))
        tensor = np.ascontiguousarray(im[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255
        pred = session.run(None, {inp.name: tensor})[0][0]
        box, conf, cls = non_max_suppression(pred, args.conf, args.iou, args.max_det)
        box = scale_boxes((height, width), box, im0.shape)
        images.append({
            "image": os.path.basename(path),
            "sha256": sha256(path),
            "width": im0.shape[1],
            "height": im0.shape[0],
            "detections": [
                {"classId": int(c), "confidence": round(float(s), 4), "box": [round(float(v), 2) for v in b]}
                for b, s, c in zip(box, conf, cls)
            ],
        })
    result = {
        "generator": "training/ultralytics_reference.py",
        "versions": {"opencv": cv2.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
        "model": os.path.basename(args.model),
        "modelSha256": sha256(args.model),
        "inputWidth": width,
        "inputHeight": height,
        "conf": args.conf,
        "iou": args.iou,
        "maxDet": args.max_det,
        "boxFormat": "x1, y1, x2, y2 in pixels of the decoded image",
        "images": images,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    text = json.dumps(result, indent=1)
    # One detection a line: collapse the number lists and the objects that hold no other object.
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    text = re.sub(r"\{\s+(\"classId\"[^{}]*?)\s+\}", lambda m: "{" + " ".join(m.group(1).split()) + "}", text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print(f"{args.out}: {sum(len(i['detections']) for i in images)} boxes on {len(images)} images")


if __name__ == "__main__":
    main()
