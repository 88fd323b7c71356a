"""Train a trendsplit architecture on synthetic watch logs: deterministic, CPU, minutes.

    python -m trendsplit.train [--arch trendsplit|trendsplit-gru|trendsplit-v2|trendsplit-v3|trendsplit-v3b] [--seed 0]
                               [--train-size N] [--epochs N] [--pos-weight W] [--habits default|mixture]
                               [--threads N] [--out DIR]

Writes `trendsplit/weights/<arch>.pt` and `<arch>.card.json` (data seed, sizes, habits, encoding
version, epochs, metrics, tool versions, weights sha256), atomically. The overrides are for
measuring one change at a time; `--out` keeps such runs away from the committed weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.api import weights_sha256
from harness.toolkit import atomic
from trendsplit import data, gru, net
from trendsplit.encoding import channels_of, decision_mask, decode, encode_batch
from trendsplit.metrics import score

WEIGHTS = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Architecture:
    build: Callable[[], nn.Module]  # the module training fits
    encoding_version: int  # the inputs it is trained on, and must be fed
    #: The module the trained weights are served in, when it is not `build`'s (same state dict).
    serve: Callable[[], nn.Module] | None = None
    #: Training starts from this architecture's committed weights, grown into `build`'s module
    #: (`net.grown`), instead of a seeded init: what it learnt is kept and built on.
    start: str | None = None


ARCHITECTURES: dict[str, Architecture] = {
    "trendsplit": Architecture(net.TrendSplitNet, 1),
    "trendsplit-gru": Architecture(gru.TrendSplitGRU, 1),
    "trendsplit-v2": Architecture(lambda: net.TrendSplitNet(inputs=4), 2,
                                  serve=lambda: net.TrendSplitNet(inputs=4, mirror=net.V2_MIRROR)),
    "trendsplit-v3": Architecture(lambda: net.TrendSplitNet(net.V3_CHANNELS, inputs=7), 3,
                                  serve=lambda: net.TrendSplitNet(net.V3_CHANNELS, inputs=7, mirror=net.V3_MIRROR)),
    "trendsplit-v3b": Architecture(
        lambda: net.TrendSplitNet(net.V3_CHANNELS, inputs=7, dilations=net.WHOLE_DILATIONS, slope=True), 3,
        serve=lambda: net.TrendSplitNet(net.V3_CHANNELS, inputs=7, dilations=net.WHOLE_DILATIONS,
                                        mirror=net.V3_MIRROR, slope=True),
        start="trendsplit-v3"),
}


@dataclass(frozen=True)
class Recipe:
    train_size: int
    val_size: int
    epochs: int
    batch: int
    lr: float
    pos_weight: float  # breaks are ~1 in 15 positions; 2 beat 1 and 4 on validation F1 (v1)
    #: Each example's y negated with probability 1/2 per epoch: the generator is symmetric in y
    #: (drift, offsets and noise are all zero-mean normal), so this is free extra data.
    flip_y: bool = False
    #: The logs' habits, by name in `data.TRAINING_HABITS` (training and validation alike).
    habits: str = "default"


RECIPES = {
    "trendsplit": Recipe(train_size=30_000, val_size=2_000, epochs=24, batch=128, lr=3e-3, pos_weight=2.0),
    "trendsplit-gru": Recipe(train_size=20_000, val_size=2_000, epochs=16, batch=128, lr=1e-2, pos_weight=4.0),
    "trendsplit-v2": Recipe(train_size=120_000, val_size=2_000, epochs=24, batch=128, lr=3e-3, pos_weight=1.0),
    "trendsplit-v3": Recipe(train_size=100_000, val_size=2_000, epochs=16, batch=128, lr=3e-3, pos_weight=1.0,
                            habits="mixture"),
    #: Fine-tuning from trendsplit-v3's weights (`Architecture.start`), on fresh logs (`--seed 1`).
    "trendsplit-v3b": Recipe(train_size=60_000, val_size=2_000, epochs=5, batch=128, lr=2e-3, pos_weight=1.0,
                             habits="mixture"),
}


def predictions(module: nn.Module, inputs: np.ndarray, lengths: np.ndarray, threshold: float = 0.5):
    with torch.inference_mode():
        probs = torch.cat([module(torch.from_numpy(inputs[i:i + 1024])) for i in range(0, len(inputs), 1024)])
    return [decode(p, int(n), threshold) for p, n in zip(probs.numpy(), lengths, strict=True)]


def train(arch: str, seed: int = 0, progress: bool = True, recipe: Recipe | None = None,
          threads: int = 2, build: Callable[[], nn.Module] | None = None) -> tuple[nn.Module, dict]:
    """Deterministic for (arch, seed, recipe, threads): the thread count changes float summation order.

    `build` replaces the architecture's module (same encoding) for measuring a variant."""
    from tqdm import tqdm

    recipe = recipe or RECIPES[arch]
    version = ARCHITECTURES[arch].encoding_version
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    habits = data.TRAINING_HABITS[recipe.habits]
    train_set = data.dataset(recipe.train_size, seed=1_000 * seed + 1, version=version, habits=habits)
    val_set = data.dataset(recipe.val_size, seed=1_000 * seed + 2, version=version, habits=habits)
    x = torch.from_numpy(train_set.inputs)
    flipped = (torch.from_numpy(encode_batch([log.points * np.array([1.0, -1.0]) for log in train_set.logs],
                                             version)) if recipe.flip_y else None)
    y = torch.from_numpy(train_set.labels)
    mask = torch.from_numpy(decision_mask(train_set.lengths).astype(np.float32))
    weight = mask * torch.where(y > 0, recipe.pos_weight, 1.0)
    module = (build or ARCHITECTURES[arch].build)()
    start_from = ARCHITECTURES[arch].start
    if start_from:
        module = net.grown(load(start_from), module)
    optimiser = torch.optim.Adam(module.parameters(), lr=recipe.lr)
    steps = recipe.epochs * -(-len(x) // recipe.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    history = []
    bar = tqdm(total=steps, desc=f"train {arch}", disable=not progress, unit="step")
    for epoch in range(recipe.epochs):
        module.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(x), recipe.batch):
            idx = order[i:i + recipe.batch]
            inputs = x[idx]
            if flipped is not None:
                flip = torch.rand(len(idx), generator=generator) < 0.5
                inputs = torch.where(flip[:, None, None], flipped[idx], inputs)
            probs = module(inputs).clamp(1e-6, 1 - 1e-6)
            loss = nn.functional.binary_cross_entropy(probs, y[idx], weight=weight[idx], reduction="sum")
            loss = loss / weight[idx].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)
        module.eval()
        f1 = score(predictions(module, val_set.inputs, val_set.lengths),
                   [log.breaks for log in val_set.logs], tolerance=1).f1
        history.append({"epoch": epoch + 1, "loss": total / len(x), "val_f1_within_1": f1})
        bar.set_postfix(loss=f"{total / len(x):.4f}", val_f1=f"{f1:.3f}")
    bar.close()
    card = {
        "architecture": arch, "seed": seed, "recipe": recipe.__dict__, "encoding_version": version,
        "data": {"train_seed": 1_000 * seed + 1, "val_seed": 1_000 * seed + 2,
                 "train_size": recipe.train_size, "val_size": recipe.val_size,
                 "generator": "trendsplit/data.py watch_log",
                 "habits": {"name": recipe.habits, type(habits).__name__: dataclasses.asdict(habits)}},
        "parameters": sum(p.numel() for p in module.parameters()),
        "validation": validation(module, val_set),
        "history": history, "training_seconds": round(time.perf_counter() - start, 1),
        "torch_threads": threads,
    }
    if start_from:
        card["start"] = {"architecture": start_from, "weights_sha256": weights_sha256(load(start_from))}
    if ARCHITECTURES[arch].serve and build is None:
        card["served"] = served_card(arch, module, val_set)
    return module.eval(), card


def validation(module: nn.Module, val_set: data.Dataset) -> dict:
    preds = predictions(module, val_set.inputs, val_set.lengths)
    truths = [log.breaks for log in val_set.logs]
    return {"exact": score(preds, truths).to_dict(), "within_1": score(preds, truths, 1).to_dict()}


def served_card(arch: str, trained: nn.Module, val_set: data.Dataset) -> dict:
    """The served module's own validation figures, next to the trained net's."""
    served = ARCHITECTURES[arch].serve()
    served.load_state_dict(trained.state_dict())
    mirror = getattr(served, "mirror", None)
    return {"mirror": None if mirror is None else mirror.flatten().tolist(),
            "validation": validation(served.eval(), val_set)}


def save(arch: str, module: nn.Module, card: dict, folder: Path = WEIGHTS) -> Path:
    from harness.api import tool_versions

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    card = {**card, "weights_sha256": weights_sha256(module), "tool_versions": tool_versions()}
    folder = atomic.check_folder(folder)  # a real folder, not a link to one
    atomic.write_bytes(folder / f"{arch}.pt", buffer.getvalue())
    atomic.write_text(folder / f"{arch}.card.json", json.dumps(card, indent=2, sort_keys=True) + "\n")
    return folder / f"{arch}.pt"


def load(arch: str, folder: Path = WEIGHTS) -> nn.Module:
    """The trained weights committed in `trendsplit/weights/`."""
    from harness.toolkit import HarnessError

    path = folder / f"{arch}.pt"
    if not path.exists():
        raise HarnessError(f"{path} is missing; train it: python -m trendsplit.train --arch {arch}")
    architecture = ARCHITECTURES[arch]
    module = (architecture.serve or architecture.build)()
    module.load_state_dict(torch.load(path, weights_only=True))
    return module.eval()


def _dilations(text: str) -> tuple[int, ...]:
    try:
        dilations = tuple(int(d) for d in text.split(","))
    except ValueError:
        dilations = ()
    if not dilations or not all(1 <= d <= 1024 for d in dilations):
        raise argparse.ArgumentTypeError(f"dilations are whole numbers from 1 to 1024, comma separated, got {text!r}")
    return dilations


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"the weight must be a positive number below 1e6, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """The command line, with the harness's conventions (one line and an exit code per error, -q/-v)."""
    from harness.toolkit import run
    from trendsplit import installed

    return run(build_parser(), argv, before=installed.require)


def build_parser() -> argparse.ArgumentParser:
    from harness.toolkit import SEED, common_options, int_in, output_folder

    parser = argparse.ArgumentParser(prog="python -m trendsplit.train", description=__doc__)
    common_options(parser)
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="trendsplit")
    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--train-size", type=int_in(1, 10**7, "the training size"),
                        help="training logs (default: the recipe's)")
    parser.add_argument("--epochs", type=int_in(1, 10_000, "the epochs"), help="epochs (default: the recipe's)")
    parser.add_argument("--pos-weight", type=_weight, help="loss weight of split positions (default: the recipe's)")
    parser.add_argument("--flip-y", type=int, choices=[0, 1], help="augment by negating y (default: the recipe's)")
    parser.add_argument("--habits", choices=sorted(data.TRAINING_HABITS),
                        help="the logs' habits: the generator's defaults or the owners' mixture "
                             "(default: the recipe's)")
    parser.add_argument("--dilations", type=_dilations,
                        help="conv nets: a variant's dilations, e.g. 1,2,4,8,16 (measuring only: the registry loads "
                             "the architecture's own)")
    parser.add_argument("--threads", type=int_in(1, 1024, "the threads"), default=2,
                        help="torch threads (1 on a busy machine)")
    parser.add_argument("--out", type=output_folder, default=WEIGHTS, help="folder for the weights and card")
    parser.set_defaults(func=command)
    return parser


def command(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("train_size", args.train_size), ("epochs", args.epochs),
                                   ("pos_weight", args.pos_weight),
                                   ("flip_y", None if args.flip_y is None else bool(args.flip_y)),
                                   ("habits", args.habits)) if v is not None}
    build = None
    if args.dilations:
        dilations = args.dilations
        version = ARCHITECTURES[args.arch].encoding_version
        width = net.V3_CHANNELS if version == 3 else net.CHANNELS
        build = lambda: net.TrendSplitNet(width, channels_of(version), dilations)  # noqa: E731
    module, card = train(args.arch, args.seed, recipe=replace(RECIPES[args.arch], **overrides),
                         threads=args.threads, build=build)
    if args.dilations:
        card["dilations"] = list(dilations)
    path = save(args.arch, module, card, folder=args.out)
    v = card["validation"]
    print(f"{args.arch}: val F1 exact {v['exact']['f1']:.3f}, within one {v['within_1']['f1']:.3f}; "
          f"{card['training_seconds']} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
