"""Trains the demo defect classifier from scratch on avi synth crops and exports it to ONNX.

Input: one unit crop as avi-crop cuts it (the box plus 10 % on each side), stretched to size x size, RGB,
0..1. Output: [batch, 5] probabilities in the order of classify/classes.txt (good, edge_defect, crack, spot,
broken), as `yolo export` writes a classifier; the batch axis is dynamic so avi-classifier runs all the
crops of a frame at once.
"""
import glob
import math
import os
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import Residual, adamw_cosine, conv, export_onnx, jitter_colour, load_rgb, python_names, start_training, training_parser


class DefectClassifier(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.features = nn.Sequential(
            conv(3, 24, 3, 2), conv(24, 24),
            conv(24, 48, 3, 2), Residual(48),
            conv(48, 96, 3, 2), Residual(96),
            conv(96, 160, 3, 2), Residual(160),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(160, classes)

    def forward(self, x):
        return self.head(self.features(x))


class Exported(nn.Module):
    def __init__(self, net: DefectClassifier):
        super().__init__()
        self.net = net

    def forward(self, images):
        return self.net(images).softmax(1)


def read_split(folder: str, classes: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every crop of a split, stretched to size x size as avi-classifier does, uint8, and its class ids."""
    images, labels = [], []
    for k, name in enumerate(classes):
        for path in sorted(glob.glob(os.path.join(folder, name, "*.png"))):
            crop = load_rgb(path)[None].float()
            images.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].round().clamp(0, 255).byte())
            labels.append(k)
    return torch.stack(images), torch.tensor(labels)


def augment(batch: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """Detector boxes are never exactly the truth: shift and scale each crop by a few percent (border pixels
    repeated), turn it any quarter, flip it, and vary its colour a little."""
    n = batch.shape[0]
    theta = torch.zeros(n, 2, 3)
    for i in range(n):
        sx, sy = math.exp(rng.uniform(-0.1, 0.1)), math.exp(rng.uniform(-0.1, 0.1))
        theta[i] = torch.tensor([[sx, 0, rng.uniform(-0.06, 0.06)], [0, sy, rng.uniform(-0.06, 0.06)]])
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    result = []
    for img in out:
        img = torch.rot90(img, rng.randrange(4), (1, 2))
        if rng.random() < 0.5:
            img = img.flip(2)
        result.append(jitter_colour(img, rng, strength=0.5))
    return torch.stack(result)


def main():
    ap = training_parser(__doc__, "avi synth output folder (its classify/train is used)", size=64, batch=64)
    args, rng = start_training(ap)

    classes = [line.strip() for line in open(os.path.join(args.synth, "classify", "classes.txt")) if line.strip()]
    images, labels = read_split(os.path.join(args.synth, "classify", "train"), classes, args.size)
    counts = torch.bincount(labels, minlength=len(classes))
    print(f"classifier: {len(labels)} crops ({', '.join(f'{c} {int(n)}' for c, n in zip(classes, counts))}), {args.steps} steps of {args.batch}", flush=True)
    # Draw every class equally often: good units outnumber each defect about six to one.
    weights = (1.0 / counts.float())[labels]
    net = DefectClassifier(len(classes))
    optimiser, schedule = adamw_cosine(net, args.lr, args.steps)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.time()
    net.train()
    for step in range(args.steps):
        pick = torch.multinomial(weights, args.batch, replacement=True, generator=generator)
        logits = net(augment(images[pick], rng) / 255.0)
        loss = F.cross_entropy(logits, labels[pick], label_smoothing=0.05)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps - 1:
            accuracy = (logits.argmax(1) == labels[pick]).float().mean().item()
            print(f"step {step:5d}  loss {loss.item():.3f}  batch accuracy {accuracy:.2f}  {time.time() - started:.0f} s", flush=True)
    export_onnx(Exported(net), torch.zeros(1, 3, args.size, args.size), args.out,
                {"description": "avi demo defect classifier (unit crops from avi synth)", "task": "classify",
                 "imgsz": [args.size, args.size], "names": python_names(classes)}, dynamic_batch=True)
    print(f"wrote {args.out} after {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
