"""The MLP GANs against the same networks and step written in PyTorch, measured side by side.

    python bench/torch_peers.py                      # both entries, about 3 minutes on 2 cores
    python bench/torch_peers.py --only lsgan-mnist --rounds 5 --steps 300

For `gan-mnist` (MLP 64-256-256-784 / 784-256-256-1, ReLU / LeakyReLU 0.2, BCE, Adam 2e-4
beta1 0.5, batch 100) and `lsgan-mnist` (label embeddings, BatchNorm + GELU MLPs 128-1024,
least-squares loss, AdamW 3e-4 (0.4, 0.8), weight decay 1e-4, an EMA of G's weights, batch 100),
the PyTorch step below builds the identical networks (same layer widths, bias placement,
BatchNorm momentum and activations; PyTorch's own initialisers) and takes the same step: G
draws a batch, D scores real and fake, both losses, one Adam(W) step each, the EMA. It runs the
idiomatic PyTorch way, eager mode on the CPU with its default threads, on one constant batch in
memory (no input pipeline on either side). pix2gan runs ``fit()`` on the same constant batch
with the entry's steps per call. The rounds alternate (pix2gan, PyTorch, ...) in one process
each, and each figure is the median over rounds of images per second. The PyTorch side needs
``torch`` (``pip install torch==2.13.0``, the CPU wheel on this machine's disk; it is not a
pix2gan requirement); without it the script says so and exits.

This stands in for "the seed's own PyTorch recipe", which is not in this repository: the
networks and optimizer settings are the zoo entries', written for PyTorch here.

Measured 2026-12-02 16:47 UTC (quiet machine, 2 cores, torch 2.13.0+cpu with 2 threads,
``python bench/torch_peers.py``: 5 rounds x 200 steps a side, 145 s):

| entry | pix2gan img/s | PyTorch img/s | pix2gan / PyTorch | steps per call |
|---|---:|---:|---:|---:|
| gan-mnist | 15766 | 8045 | 1.96 | 50 |
| lsgan-mnist | 2560 | 2066 | 1.24 | 50 |

(A shorter run, 2 rounds x 50 steps, gave 1.49 and 1.19.) pix2gan is ahead on both. The issue's
figures for the seed's own scripts (9,500 and 3,220 img/s) came from another machine and other
code; this machine's PyTorch runs the lsgan-mnist networks at 2,066 img/s.
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ENTRIES = ("gan-mnist", "lsgan-mnist")


def torch_step(entry: str, batch: int):
    """A closure running one PyTorch training step of ``entry``'s networks."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    if entry == "gan-mnist":
        latent, classes = 64, 0
        g = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 784),
                          nn.Tanh())
        d = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                          nn.Linear(256, 1))
        g_opt = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
        ema = None
    else:
        latent, classes = 100, 10

        def mlp(widths, first_bias):
            layers = []
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
                norm = not (first_bias and i == 0)
                layers += [nn.Linear(a, b, bias=not norm)] + ([nn.BatchNorm1d(b, momentum=0.1)] if norm else [])
                layers.append(nn.GELU())
            return layers

        class G(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(10, 100)
                self.body = nn.Sequential(*mlp([200, 128, 256, 512, 1024], False), nn.Linear(1024, 784), nn.Tanh())

            def forward(self, z, y):
                return self.body(torch.cat([z, self.embed(y)], 1))

        class D(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(10, 100)
                self.body = nn.Sequential(*mlp([884, 1024, 512, 256, 128], True), nn.Linear(128, 1))

            def forward(self, x, y):
                return self.body(torch.cat([x, self.embed(y)], 1))
        g, d = G(), D()
        g_opt = torch.optim.AdamW(g.parameters(), 3e-4, betas=(0.4, 0.8), weight_decay=1e-4)
        d_opt = torch.optim.AdamW(d.parameters(), 3e-4, betas=(0.4, 0.8), weight_decay=1e-4)
        ema = [p.detach().clone() for p in g.parameters()]
    x = torch.rand(batch, 784) * 2 - 1
    y = torch.randint(0, 10, (batch,))
    bce = nn.BCEWithLogitsLoss()

    def run_d(images):
        return d(images) if not classes else d(images, y)

    def step():
        z = torch.randn(batch, latent)
        fake = g(z) if not classes else g(z, y)
        d_opt.zero_grad(set_to_none=True)
        real_out, fake_out = run_d(x), run_d(fake.detach())
        if classes:
            d_loss = 0.5 * (((real_out - 1) ** 2).mean() + (fake_out ** 2).mean())
        else:
            d_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad(set_to_none=True)
        out = run_d(fake)
        g_loss = 0.5 * ((out - 1) ** 2).mean() if classes else bce(out, torch.ones_like(out))
        g_loss.backward()
        g_opt.step()
        if ema is not None:
            with torch.no_grad():
                for e, p in zip(ema, g.parameters()):
                    e.mul_(0.999).add_(p, alpha=0.001)
    return step


def child(entry: str, rounds: int, steps: int) -> dict:
    try:
        import torch
    except ImportError:
        return {"entry": entry, "error": "torch is not installed (pip install torch==2.13.0)"}
    import keras  # noqa: F401  (TensorFlow loads before the rounds, as in training)

    from pix2gan import zoo
    from pix2gan.allocator import tune_allocator
    from pix2gan.training import set_steps_per_execution, steps_per_call
    sys.path.insert(0, os.path.join(REPO, "bench"))
    from run import constant_dataset, synthetic_batch

    tune_allocator()
    recipe = zoo.get(entry)
    trainer = recipe.build_trainer(1000, 0, False)
    import tensorflow as tf
    spec = (tf.TensorSpec((recipe.batch_size, 28, 28, 1), tf.float32), tf.TensorSpec((recipe.batch_size,), tf.int32))
    ds = constant_dataset(synthetic_batch(spec, recipe.batch_size), spec)
    per_call = steps_per_call(steps, recipe.default_steps_per_execution)
    set_steps_per_execution(trainer, per_call)
    trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)  # trace
    step = torch_step(entry, recipe.batch_size)
    for _ in range(10):
        step()
    ours, theirs = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
        ours.append(steps * recipe.batch_size / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(steps):
            step()
        theirs.append(steps * recipe.batch_size / (time.perf_counter() - start))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {"entry": entry, "pix2gan_img_s": med(ours), "torch_img_s": med(theirs),
            "ratio": med(ours) / med(theirs), "steps_per_call": per_call, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "rounds": rounds, "steps": steps}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", choices=ENTRIES)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=200, help="steps per round, each side")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.rounds, args.steps)), flush=True)
        return 0
    rows = []
    for entry in args.only or ENTRIES:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", entry, "--rounds",
                               str(args.rounds), "--steps", str(args.steps)], capture_output=True, text=True, cwd=REPO)
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        rows.append(json.loads(found[-1][7:]) if found else {"entry": entry, "error": done.stderr[-300:]})
    print("| entry | pix2gan img/s | PyTorch img/s | pix2gan / PyTorch | steps per call |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['entry']} | failed: {r['error']} |")
        else:
            print(f"| {r['entry']} | {r['pix2gan_img_s']:.0f} | {r['torch_img_s']:.0f} | {r['ratio']:.2f} | "
                  f"{r['steps_per_call']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
