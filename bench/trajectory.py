"""The loss trajectory of pix2pix's fast paths against the plain float32 step, over 20 steps.

    python bench/trajectory.py                       # 256x256, batch 1, 20 steps: about 2 minutes on 2 cores
    python bench/trajectory.py --steps 50 --image-size 128

Seven runs start from the same weights (one of them from weights one ulp apart) and take the
same ``--steps`` batches (the first batches of pix2pix-facades' real training pipeline,
../shared/data/facades or ``--data-dir``; the synthetic set where there is neither):

- ``plain``: the TensorFlow tutorial's step, float32 (``bench.run.tutorial_pix2pix_step``, the
  baseline of ``bench/run.py``), Keras's ``Adam(2e-4, beta_1=0.5)`` for each network;
- ``fit() float32``: pix2gan's ``Pix2Pix`` trainer as the entry compiles it (its own fused Adam,
  ``pix2gan.optimizers``), run by ``fit()`` one step an epoch so each epoch's logs are that
  step's losses;
- ``fit() float32, Keras Adam`` and ``plain, fused Adam float32``: the two float32 runs with their
  optimizers swapped, which separates what the step changes from what the optimizer changes;
- ``plain, again``: the plain step once more, which shows it is deterministic (every difference
  below comes from the runs, not from thread timing);
- ``plain, weights +1 ulp``: the plain step from the same weights each moved one ulp toward +inf,
  the smallest change float32 can make: how far float32 training itself parts from a
  last-bit change over the steps, the float32 floor;
- ``fit() mixed_bfloat16``: the trainer under ``precision_scope('mixed_bfloat16')`` (skipped where
  bf16 would be emulated).

The networks are the entry's (U-Net 54.4M, PatchGAN 2.77M at 256 px) with the U-Net's dropout
set to 0, so no step draws anything at random and the runs can be compared step by step.
Printed: each loss per step, and per run the largest relative difference from ``plain`` over
the steps, beside the bound of its precision (float32: 1e-5 on the first step, where nothing has
compounded; mixed_bfloat16: ``pix2gan.precision.BF16_STEP_RTOL``). A GAN is chaotic: differences
in the last bits grow step by step, so the table shows where each run leaves the plain one, and
compares it with the float32 floor: its largest difference over the steps as a share of the
1-ulp run's, and the steps at which it is further from ``plain`` than the 1-ulp run has been by
then (its running maximum, the envelope). A float32 run with 0 such steps follows the plain
trajectory as closely as float32 can: that is the float32 tolerance over many steps.

Measured 2026-12-02 18:10 UTC (quiet machine, 2 cores, real facades batches, about 70 s); the
largest relative difference from ``plain`` over g_adv, g_l1 and d_loss:

| run | bound | step 1 | steps 1-5 | steps 1-20 | first step over the bound |
|---|---:|---:|---:|---:|---:|
| fit() float32 | 1e-05 | 0.00e+00 | 3.43e-04 | 6.52e-03 | 4 |
| fit() mixed_bfloat16 | 0.05 | 1.56e-04 | 5.28e-03 | 1.81e-02 | none |

The float32 fit() step takes the plain step's first step exactly; its losses then part from the
plain ones in the 4th-5th digit by step 4 and by up to 0.7% by step 20. The bf16 step stays within
1.8% of the plain float32 losses over all 20 steps, inside its 5% bound. (An earlier run, whose
plain step took its losses from ``pix2gan.losses`` instead of Keras's BCE, gave 8.95e-03 and
1.45e-02 over the 20 steps.)

Measured again 2026-12-03 04:30 UTC with the two swapped-optimizer runs (real facades batches;
another bench shared the cores, which changes the time, not the numbers; the three runs of the
first table gave the same figures):

| run | bound | step 1 | steps 1-5 | steps 1-20 | first step over the bound |
|---|---:|---:|---:|---:|---:|
| fit() float32 | 1e-05 | 0.00e+00 | 3.43e-04 | 6.52e-03 | 4 |
| fit() float32, Keras Adam | 1e-05 | 0.00e+00 | 4.16e-05 | 7.69e-03 | 5 |
| plain, fused Adam float32 | 1e-05 | 0.00e+00 | 2.07e-04 | 1.01e-02 | 4 |
| fit() mixed_bfloat16 | 0.05 | 1.56e-04 | 5.28e-03 | 1.81e-02 | none |

With Keras's own Adam the fit() step still leaves the plain one at step 5 and by 0.8% at step 20,
and the plain step with the fused Adam leaves it as early as fit() does: the parting is not the
optimizer's (the fused kernel's (1 - beta_2) is 0.00099998713 in float32 against Keras's 0.001, a
1.3e-5 relative difference) nor the step's alone. Any change of the last bits, from either, is
amplified by Adam's sign-like first updates and the GAN's feedback; the 1e-5 float32 bound holds
for the first step only: every float32 variant measured here leaves the plain step by step 4-5.

Measured 2026-12-07 14:26-14:31 UTC with the float32 floor (real facades batches; bench/soak.py
shared the cores, which changes the time, not the numbers: a first run at 13:56 gave the same
table to the last digit, and ``plain, again`` shows the plain step repeats exactly):

| run | bound | step 1 | steps 1-5 | steps 1-20 | first step over the bound | / 1-ulp run | steps over the 1-ulp envelope |
|---|---:|---:|---:|---:|---:|---:|---:|
| fit() float32 | 1e-05 | 0.00e+00 | 3.35e-04 | 6.12e-03 | 4 | 0.70 | 0 |
| fit() float32, Keras Adam | 1e-05 | 0.00e+00 | 9.79e-05 | 6.27e-03 | 4 | 0.72 | 0 |
| plain, fused Adam float32 | 1e-05 | 0.00e+00 | 3.43e-04 | 6.85e-03 | 4 | 0.78 | 0 |
| plain, again | 1e-05 | 0.00e+00 | 0.00e+00 | 0.00e+00 | none | 0.00 | 0 |
| plain, weights +1 ulp | 1e-05 | 1.97e-06 | 4.58e-04 | 8.76e-03 | 2 | 1.00 | 0 |
| fit() mixed_bfloat16 | 0.05 | 7.17e-05 | 5.38e-03 | 1.80e-02 | none | 2.06 | 13 |

The plain step started from weights one ulp apart leaves itself by 1e-5 at step 2 and by 0.9%
over 20 steps: that is as closely as float32 can follow a GAN trajectory. ``fit() float32`` is
within that floor at every one of the 20 steps (0 steps over the envelope; its largest
difference 0.70x the 1-ulp run's), as are both swapped-optimizer runs, so over 20 steps it
follows the plain float32 trajectory within float32's own tolerance. The bf16 run stays inside
its 5% bound, and is outside the float32 floor at 13 of the 20 steps, as bf16's coarser rounding would have it.
The earlier tables were measured on other days' machines and commits, and their figures
differ a little from this run's (fit() float32 over 20 steps: 6.52e-03 then, 6.12e-03 here); every
float32 run here first exceeds 1e-5 at step 4 (the Keras-Adam run did at step 5 then).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.run import shared_data_dir, tutorial_pix2pix_step  # noqa: E402
from pix2gan import Pix2Pix, zoo  # noqa: E402
from pix2gan.allocator import tune_allocator  # noqa: E402
from pix2gan.networks import build_patchgan_discriminator, build_unet_generator  # noqa: E402
from pix2gan.optimizers import Adam  # noqa: E402
from pix2gan.precision import BF16_STEP_RTOL, precision_scope, unsupported_reason  # noqa: E402

LOSSES = ("g_adv", "g_l1", "d_loss")
F32_FIRST_STEP_RTOL = 1e-5


def networks(size: int, weights=None):
    keras.utils.set_random_seed(0)
    shape = (size, size, 3)
    g = build_unet_generator(shape, filters=64, max_filters=512, dropout=0.0)
    d = build_patchgan_discriminator(shape, filters=64)
    if weights is not None:
        g.set_weights(weights[0])
        d.set_weights(weights[1])
    return g, d


def batches(args):
    recipe = zoo.get("pix2pix-facades", image_size=args.image_size)
    data_dir = args.data_dir or shared_data_dir(recipe)
    options = recipe.Options(synthetic=data_dir is None)
    source = recipe.resolve_source(data_dir, options)
    data = recipe.load_data(source, options, None, 0)
    taken = [(np.asarray(x), np.asarray(y)) for x, y in data.train.repeat().take(args.steps)]
    return taken, source.kind


def nudged(weights):
    """``weights`` with every float32 value moved one ulp toward +inf."""
    return tuple([np.nextafter(w, np.float32(np.inf)).astype(w.dtype) for w in ws] for ws in weights)


def keras_adam():
    return keras.optimizers.Adam(2e-4, beta_1=0.5)


def plain_run(weights, data, size, optimizer=keras_adam):
    """The tutorial's step in float32 with ``optimizer()`` for each network (Keras's Adam): the
    losses of each step."""
    g, d = networks(size, weights)
    g_opt, d_opt = optimizer(), optimizer()
    g_opt.build(g.trainable_variables)
    d_opt.build(d.trainable_variables)
    step = tutorial_pix2pix_step(g, d, g_opt, d_opt)
    return [{k: float(v) for k, v in step(tf.constant(x), tf.constant(y)).items()} for x, y in data]


def fit_run(weights, data, size, policy: str, optimizer=None):
    """pix2gan's trainer under ``policy``, one ``fit()`` epoch a step, with ``optimizer()`` for each
    network (default: the trainer's own, the fused Adam): the losses of each step."""
    with precision_scope(policy):
        g, d = networks(size, weights)
        trainer = Pix2Pix(g, d, l1_weight=100.0)
        trainer.compile(*((optimizer(), optimizer()) if optimizer else ()))
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(
        {k: float(logs[k]) for k in LOSSES}))
    xs = np.concatenate([x for x, _ in data])
    ys = np.concatenate([y for _, y in data])
    ds = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(data[0][0].shape[0])
    trainer.fit(ds, epochs=len(data), steps_per_epoch=1, verbose=0, callbacks=[record], shuffle=False)
    return seen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--data-dir", help="facades folder (default ../shared/data/facades, else synthetic)")
    p.add_argument("--json", help="write the losses here")
    args = p.parse_args(argv)
    tune_allocator()
    data, kind = batches(args)
    g, d = networks(args.image_size)
    weights = (g.get_weights(), d.get_weights())
    runs = {"plain": plain_run(weights, data, args.image_size),
            "fit() float32": fit_run(weights, data, args.image_size, "float32"),
            # these two split the float32 difference between the step and the optimizer
            "fit() float32, Keras Adam": fit_run(weights, data, args.image_size, "float32", keras_adam),
            "plain, fused Adam float32": plain_run(weights, data, args.image_size,
                                                   lambda: Adam(2e-4, beta_1=0.5)),
            # the float32 floor: the same plain step again (it is deterministic), and from weights one
            # ulp apart, which is as small as a float32 change can be
            "plain, again": plain_run(weights, data, args.image_size),
            "plain, weights +1 ulp": plain_run(nudged(weights), data, args.image_size)}
    reason = unsupported_reason("mixed_bfloat16")
    if reason:
        print(f"mixed_bfloat16 skipped: {reason}")
    else:
        runs["fit() mixed_bfloat16"] = fit_run(weights, data, args.image_size, "mixed_bfloat16")
    print(f"pix2pix {args.image_size}x{args.image_size}, batch {data[0][0].shape[0]}, {args.steps} steps, "
          f"data: {kind}\n")
    names = list(runs)
    print("| step | " + " | ".join(f"{n} {k}" for n in names for k in LOSSES) + " |")
    print("|---:|" + "---:|" * (len(names) * len(LOSSES)))
    for i in range(args.steps):
        print(f"| {i + 1} | " + " | ".join(f"{runs[n][i][k]:.5f}" for n in names for k in LOSSES) + " |")
    plain = runs["plain"]
    rels = {n: np.array([[abs(runs[n][i][k] - plain[i][k]) / max(abs(plain[i][k]), 1e-12) for k in LOSSES]
                         for i in range(args.steps)]).max(axis=1) for n in names[1:]}
    floor = rels["plain, weights +1 ulp"].max()
    # the float32 floor at step i: the most the 1-ulp run has parted from plain by then
    envelope = np.maximum.accumulate(rels["plain, weights +1 ulp"])
    print("\n| run | bound | max rel. diff, step 1 | max rel. diff, steps 1-5 | max rel. diff, all steps | "
          "first step over the bound | all steps / the 1-ulp run's | steps over the 1-ulp envelope |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for n, rel in rels.items():
        bound = BF16_STEP_RTOL if "bfloat16" in n else F32_FIRST_STEP_RTOL
        over = np.nonzero(rel > bound)[0]
        first = int(over[0]) + 1 if len(over) else None
        summary[n] = {"bound": bound, "step1": float(rel[0]), "steps1_5": float(rel[:5].max()),
                      "all": float(rel.max()), "first_over": first, "to_floor": float(rel.max() / floor),
                      "over_envelope": int((rel > envelope).sum())}
        print(f"| {n} | {bound:g} | {rel[0]:.2e} | {rel[:5].max():.2e} | {rel.max():.2e} | {first or 'none'} | "
              f"{rel.max() / floor:.2f} | {summary[n]['over_envelope']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "summary": summary, "data": kind, "image_size": args.image_size}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
