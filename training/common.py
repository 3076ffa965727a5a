"""What both demo models share: layers, seeding, image loading, colour jitter and ONNX export with metadata."""
import argparse
import datetime
import hashlib
import math
import os
import random

import numpy as np
import onnx
import torch
import torch.nn as nn
from PIL import Image


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_cpu_threads() -> None:
    torch.set_num_threads(int(os.environ.get("AVI_TRAIN_THREADS", os.cpu_count() or 2)))


def training_parser(doc: str, synth_help: str, size: int, batch: int) -> argparse.ArgumentParser:
    """The options both trainers take; each adds its own."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--synth", required=True, help=synth_help)
    ap.add_argument("--size", type=int, default=size, help="model input, pixels (square)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the augmentation")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    return ap


def start_training(ap: argparse.ArgumentParser) -> tuple[argparse.Namespace, random.Random]:
    """Parses the options, seeds every generator and sets the CPU threads; returns the augmentation's generator."""
    args = ap.parse_args()
    seed_everything(args.seed)
    use_cpu_threads()
    return args, random.Random(args.seed)


def adamw_cosine(net: nn.Module, lr: float, steps: int):
    """AdamW with a linear warm-up over the first 10 % (at most 200 steps), then a cosine decay to zero."""
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    warmup = max(1, min(200, steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps)))
    return optimiser, schedule


def conv(c_in: int, c_out: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class Residual(nn.Module):
    """Two 3x3 convolutions with a skip, the bottleneck of YOLOv8's C2f."""

    def __init__(self, c: int):
        super().__init__()
        self.a = conv(c, c)
        self.b = conv(c, c)

    def forward(self, x):
        return x + self.b(self.a(x))


def load_rgb(path: str) -> torch.Tensor:
    """uint8 CHW tensor of an image file, RGB."""
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def jitter_colour(x: torch.Tensor, rng: random.Random, strength: float = 1.0) -> torch.Tensor:
    """Brightness, contrast, saturation and a small white-balance shift on a float 0..255 CHW image."""
    grey = x.mean(0, keepdim=True)
    x = grey + (x - grey) * (1 + strength * rng.uniform(-0.4, 0.4))  # saturation
    x = x.mean() + (x - x.mean()) * (1 + strength * rng.uniform(-0.3, 0.3))  # contrast
    gains = torch.tensor([1 + strength * rng.uniform(-0.08, 0.08) for _ in range(3)]).view(3, 1, 1)
    x = x * gains * (1 + strength * rng.uniform(-0.3, 0.3))  # white balance, brightness
    return x.clamp(0, 255)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_onnx(model: nn.Module, example: torch.Tensor, path: str, metadata: dict, dynamic_batch: bool) -> None:
    """Exports with the TorchScript exporter (opset 17, what onnxruntime-node 1.x reads) and writes Ultralytics-style
    metadata_props, which the avi-model node reads for class names, input size and task."""
    model.eval()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    dynamic_axes = {"images": {0: "batch"}, "output0": {0: "batch"}} if dynamic_batch else None
    torch.onnx.export(model, (example,), path, input_names=["images"], output_names=["output0"], opset_version=17,
                      dynamic_axes=dynamic_axes, do_constant_folding=True, dynamo=False)
    proto = onnx.load(path)
    base = {"author": "node-red-contrib-visual-inspection training/", "date": datetime.date.today().isoformat(),
            "license": "Apache-2.0", "version": "1", "batch": "1"}
    for key, value in {**base, **metadata}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    proto.producer_name = "pytorch " + torch.__version__
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def python_names(names: list[str]) -> str:
    """Class names as Ultralytics writes them in metadata: a Python dict literal."""
    return "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(names)) + "}"
