"""Trains the demo unit detector from scratch and exports it in the Ultralytics YOLOv8 layout.

A small anchor-free detector in YOLOv8's shape: a residual backbone, a feature pyramid at strides 8, 16 and
32, and per cell a score and the four distances to the box sides. Positives are the cells near a unit's
centre (YOLOX's centre prior), scores learn the IoU of their box (quality focal loss), boxes learn GIoU. The
export decodes the boxes inside the graph, so the ONNX output is [1, 5, N]: cx, cy, w, h in input pixels and
the "pill" score, as `yolo export` writes a one-class YOLOv8.
"""
import glob
import json
import math
import os
import random
import time
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import Residual, adamw_cosine, conv, export_onnx, jitter_colour, load_rgb, python_names, start_training, training_parser

STRIDES = (8, 16, 32)
# Long sides (input pixels) each level learns; they overlap so that no unit falls between two levels.
LEVEL_SIZES = {8: (0, 64), 16: (32, 128), 32: (96, 10_000)}
PAD_GREY = 114.0  # Ultralytics' letterbox fill


class PillDetector(nn.Module):
    def __init__(self):
        super().__init__()
        c1, c2, c3, c4, c5 = 16, 24, 48, 96, 128
        self.stem = nn.Sequential(conv(3, c1, 3, 2), conv(c1, c2, 3, 2))  # stride 4
        self.stage3 = nn.Sequential(conv(c2, c3, 3, 2), Residual(c3))  # stride 8
        self.stage4 = nn.Sequential(conv(c3, c4, 3, 2), Residual(c4))  # stride 16
        self.stage5 = nn.Sequential(conv(c4, c5, 3, 2), Residual(c5))  # stride 32
        self.top4 = conv(c4 + c5, c4)
        self.top3 = conv(c3 + c4, c3)
        self.heads = nn.ModuleList([nn.Sequential(conv(c, c), nn.Conv2d(c, 5, 1)) for c in (c3, c4, c5)])
        for head in self.heads:
            nn.init.constant_(head[-1].bias[4:], -math.log(99))  # start at a 1 % score

    def forward(self, x):
        """Raw head outputs per level: [B, 5, H, W] (4 distance logits, 1 score logit)."""
        f3 = self.stage3(self.stem(x))
        f4 = self.stage4(f3)
        f5 = self.stage5(f4)
        p4 = self.top4(torch.cat([f4, F.interpolate(f5, scale_factor=2.0, mode="nearest")], 1))
        p3 = self.top3(torch.cat([f3, F.interpolate(p4, scale_factor=2.0, mode="nearest")], 1))
        return [head(p) for head, p in zip(self.heads, (p3, p4, f5))]


def box_iou_aligned(a: torch.Tensor, b: torch.Tensor, generalised: bool = False) -> torch.Tensor:
    """IoU (or GIoU) of each box in a with the box at the same index in b, xyxy."""
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    union = (a[:, 2:] - a[:, :2]).prod(1) + (b[:, 2:] - b[:, :2]).prod(1) - inter
    iou = inter / union.clamp(min=1e-6)
    if not generalised:
        return iou
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).prod(1)
    return iou - (hull - union) / hull.clamp(min=1e-6)


class Cells(NamedTuple):
    """Every cell of every level, in output order (A cells)."""
    centres: torch.Tensor  # (A, 2) in input pixels
    strides: torch.Tensor  # (A,)
    min_size: torch.Tensor  # (A,) shortest long side of a unit the cell's level learns (LEVEL_SIZES)
    max_size: torch.Tensor  # (A,) longest


def cells_of(size: int) -> Cells:
    centres, strides, min_size, max_size = [], [], [], []
    for s in STRIDES:
        n = size // s
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        centres.append(torch.stack([xs, ys], -1).reshape(-1, 2).float().add(0.5).mul(s))
        strides.append(torch.full((n * n,), float(s)))
        min_size.append(torch.full((n * n,), LEVEL_SIZES[s][0]))
        max_size.append(torch.full((n * n,), LEVEL_SIZES[s][1]))
    return Cells(torch.cat(centres), torch.cat(strides), torch.cat(min_size), torch.cat(max_size))


def flatten(levels):
    return torch.cat([p.flatten(2) for p in levels], 2).transpose(1, 2)  # [B, A, 5]


def decode(raw: torch.Tensor, centres: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """xyxy boxes in input pixels from distance logits."""
    dist = F.softplus(raw[..., :4]) * strides[:, None]
    return torch.cat([centres - dist[..., :2], centres + dist[..., 2:]], -1)


class Exported(nn.Module):
    """The graph that ships: boxes decoded to cx, cy, w, h and sigmoid scores, [1, 5, N] like YOLOv8."""

    def __init__(self, net: PillDetector, size: int):
        super().__init__()
        self.net = net
        cells = cells_of(size)
        self.register_buffer("centres", cells.centres)
        self.register_buffer("strides", cells.strides)

    def forward(self, images):
        raw = flatten(self.net(images))
        xyxy = decode(raw, self.centres, self.strides)
        cxcywh = torch.cat([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], -1)
        return torch.cat([cxcywh, raw[..., 4:].sigmoid()], -1).transpose(1, 2)


def assign(boxes: torch.Tensor, cells: Cells) -> torch.Tensor:
    """Index of the truth box each cell learns, -1 for background. A cell is positive when its centre lies in
    the box, within 2.5 strides of the box centre and on a level meant for the box's size (LEVEL_SIZES: a
    coarse level sees a large unit whole, a fine one only part of it); a cell claimed by several boxes takes
    the one whose centre is nearest relative to its size; a box holding no cell centre takes its nearest cell
    on the finest level meant for it."""
    centres, strides = cells.centres, cells.strides
    if boxes.numel() == 0:
        return torch.full((centres.shape[0],), -1, dtype=torch.long)
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1)
    inside = ((centres[:, None] > boxes[None, :, :2]) & (centres[:, None] < boxes[None, :, 2:])).all(-1)
    near = ((centres[:, None] - box_centre[None]).abs() < 2.5 * strides[:, None, None]).all(-1)
    long_side = size.max(1).values
    meant = (long_side[None] >= cells.min_size[:, None]) & (long_side[None] <= cells.max_size[:, None])
    distance = ((centres[:, None] - box_centre[None]) / size[None]).pow(2).sum(-1)
    distance = distance.masked_fill(~(inside & near & meant), float("inf"))
    best, target = distance.min(1)
    target[best.isinf()] = -1
    for i in range(boxes.shape[0]):
        if not (target == i).any():
            finest = strides == strides[meant[:, i]].min()
            d = (centres - box_centre[i]).pow(2).sum(-1).masked_fill(~finest, float("inf"))
            target[d.argmin()] = i
    return target


def loss_of(levels, batch_boxes, cells: Cells):
    raw = flatten(levels)
    boxes = decode(raw, cells.centres, cells.strides)
    score_logit = raw[..., 4]
    score_target = torch.zeros_like(score_logit)
    giou_losses, positives = [], 0
    for b, truth in enumerate(batch_boxes):
        target = assign(truth, cells)
        pos = target >= 0
        if pos.any():
            pred, gt = boxes[b, pos], truth[target[pos]]
            giou_losses.append(1 - box_iou_aligned(pred, gt, generalised=True))
            score_target[b, pos] = box_iou_aligned(pred.detach(), gt).clamp(min=0.05)
            positives += int(pos.sum())
    positives = max(positives, 1)
    p = score_logit.sigmoid()
    quality_focal = F.binary_cross_entropy_with_logits(score_logit, score_target, reduction="none") * (p - score_target).abs().pow(2)
    score_loss = quality_focal.sum() / positives
    box_loss = torch.cat(giou_losses).sum() / positives if giou_losses else score_loss.detach() * 0
    return score_loss + 2.0 * box_loss, score_loss.item(), box_loss.item()


class Source:
    """One labelled image held in memory: uint8 CHW pixels and xyxy boxes in pixels."""

    def __init__(self, pixels: torch.Tensor, boxes: torch.Tensor):
        self.pixels, self.boxes = pixels, boxes


def yolo_sources(image_dir: str) -> list[Source]:
    sources = []
    for path in sorted(glob.glob(os.path.join(image_dir, "*.jpg")) + glob.glob(os.path.join(image_dir, "*.png"))):
        pixels = load_rgb(path)
        h, w = pixels.shape[1:]
        label = path.replace(f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}").rsplit(".", 1)[0] + ".txt"
        rows = [list(map(float, line.split()[1:5])) for line in open(label) if line.strip()] if os.path.exists(label) else []
        b = torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)
        xyxy = torch.stack([(b[:, 0] - b[:, 2] / 2) * w, (b[:, 1] - b[:, 3] / 2) * h, (b[:, 0] + b[:, 2] / 2) * w, (b[:, 1] + b[:, 3] / 2) * h], 1)
        sources.append(Source(pixels, xyxy))
    return sources


def coco_sources(annotation_file: str) -> list[Source]:
    """Every box of a COCO file as one class: capsules and tablets are both units."""
    coco = json.load(open(annotation_file))
    by_image = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        by_image.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    folder = os.path.dirname(annotation_file)
    return [Source(load_rgb(os.path.join(folder, im["file_name"])), torch.tensor(by_image.get(im["id"], []), dtype=torch.float32).reshape(-1, 4))
            for im in coco["images"]]


def augment(source: Source, size: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """A size x size training input: the letterbox the detector node makes, at a random scale, position, flip,
    quarter turn and colour. Boxes less than 35 % visible after the cut are dropped."""
    pixels, boxes = source.pixels, source.boxes.clone()
    h, w = pixels.shape[1:]
    scale = size / max(h, w) * (1.0 if rng.random() < 0.3 else math.exp(rng.uniform(math.log(0.55), math.log(2.4))))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    img = F.interpolate(pixels[None].float(), size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    boxes *= torch.tensor([nw / w, nh / h, nw / w, nh / h])
    # place on the canvas: centred when it fits as the letterbox does, else a random window of it
    ox = (size - nw) // 2 if nw <= size and rng.random() < 0.5 else rng.randint(min(0, size - nw), max(0, size - nw))
    oy = (size - nh) // 2 if nh <= size and rng.random() < 0.5 else rng.randint(min(0, size - nh), max(0, size - nh))
    canvas = torch.full((3, size, size), PAD_GREY)
    sx0, sy0, dx0, dy0 = max(0, -ox), max(0, -oy), max(0, ox), max(0, oy)
    cw, ch = min(nw - sx0, size - dx0), min(nh - sy0, size - dy0)
    canvas[:, dy0:dy0 + ch, dx0:dx0 + cw] = img[:, sy0:sy0 + ch, sx0:sx0 + cw]
    boxes += torch.tensor([ox, oy, ox, oy], dtype=torch.float32)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lo = torch.tensor([dx0, dy0], dtype=torch.float32)
    hi = torch.tensor([dx0 + cw, dy0 + ch], dtype=torch.float32)
    clipped = torch.cat([torch.max(boxes[:, :2], lo), torch.min(boxes[:, 2:], hi)], 1)
    visible = ((clipped[:, 2] - clipped[:, 0]).clamp(min=0) * (clipped[:, 3] - clipped[:, 1]).clamp(min=0)) / area.clamp(min=1)
    boxes = clipped[visible > 0.35]
    if rng.random() < 0.5:
        canvas = canvas.flip(2)
        boxes = torch.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1)
    if rng.random() < 0.5:
        canvas = canvas.flip(1)
        boxes = torch.stack([boxes[:, 0], size - boxes[:, 3], boxes[:, 2], size - boxes[:, 1]], 1)
    if rng.random() < 0.5:  # transpose: with the flips, every quarter turn
        canvas = canvas.transpose(1, 2)
        boxes = boxes[:, [1, 0, 3, 2]]
    return jitter_colour(canvas, rng), boxes


def main():
    ap = training_parser(__doc__, "avi synth output folder (its detect/images/train is used)", size=320, batch=16)
    ap.add_argument("--real", help="COCO file of real pill photos to mix in (pills-roboflow-coco train split)")
    ap.add_argument("--real-share", type=float, default=0.3, help="share of training inputs drawn from --real")
    args, rng = start_training(ap)

    synth = yolo_sources(os.path.join(args.synth, "detect", "images", "train"))
    real = coco_sources(args.real) if args.real else []
    print(f"detector: {len(synth)} synthetic frames, {len(real)} real photos ({round(args.real_share * 100) if real else 0} % of inputs), {args.steps} steps of {args.batch}", flush=True)
    net = PillDetector()
    cells = cells_of(args.size)
    optimiser, schedule = adamw_cosine(net, args.lr, args.steps)
    started = time.time()
    net.train()
    for step in range(args.steps):
        batch = [augment(rng.choice(real) if real and rng.random() < args.real_share else rng.choice(synth), args.size, rng) for _ in range(args.batch)]
        images = torch.stack([b[0] for b in batch]) / 255.0
        loss, score_loss, box_loss = loss_of(net(images), [b[1] for b in batch], cells)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        optimiser.step()
        schedule.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f} (score {score_loss:.3f}, box {box_loss:.3f})  {time.time() - started:.0f} s", flush=True)
    export_onnx(Exported(net, args.size), torch.zeros(1, 3, args.size, args.size), args.out,
                {"description": "avi demo pill detector (one class, trained on avi synth frames)", "task": "detect",
                 "stride": max(STRIDES), "imgsz": [args.size, args.size], "names": python_names(["pill"])}, dynamic_batch=False)
    print(f"wrote {args.out} after {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
