"""Uniform benchmark of every zoo entry at its reference configuration.

    python bench/run.py [--only NAME ...] [--json FILE] [--steps N] [--quick] [--data-dir DIR]
    python -m bench ...                      # the same

Each entry (``pix2gan.zoo.names()``, the recipe's defaults; ``pix2pix-facades`` also at batch 16
as ``pix2pix-facades@b16``) runs in its own subprocess, so Keras's global dtype policy and the
peak memory of one entry do not leak into the next. The float32 and bf16 matmul rates (tf.matmul
of 2048x2048, as bench/train_step.py) are measured once at the top and are the denominators of
every "share" column.

Columns (ms are per training step; ratios < 1 mean pix2gan is faster than the baseline):

- ``f32 ms`` / ``bf16 ms``: the entry's own trainer (``recipe.build_trainer`` inside
  ``pix2gan.precision.precision_scope``) run by ``fit()`` on ``Dataset.from_tensors(batch).repeat()``
  of one synthetic batch of the pipeline's shapes and dtypes (input cost excluded), after one
  warm-up ``fit()`` that traces. bf16 is skipped (with the reason printed) where
  ``unsupported_reason("mixed_bfloat16")`` says so.
- ``base ms``: a plain ``tf.function`` step written here, float32, over the float32 trainer's own
  networks, the way the TensorFlow tutorials write it (two ``GradientTape`` s; pix2pix objective
  BCE + 100 L1 for the pix2pix-like and cloud-removal entries, z (+labels) -> G -> D with the
  entry's BCE / LSGAN for the latent GANs, ``bench.cyclegan.reference_step`` for CycleGAN, one-tape
  L1 regression for sequence-unet).
- ``f32/base``, ``bf16/base``: wall time ratio ours / baseline; ``cpu f32/base``, ``cpu bf16/base``: the
  same with process CPU time (``time.process_time``), steadier on a shared machine. Ours and the
  baseline alternate in rounds (f32 fit, baseline, bf16 fit; ``rounds x steps`` given per entry)
  and each figure is the median over rounds.
- ``img/s``: training images per second (float32).
- ``inf b1`` / ``inf b16``: generator inference images/s (compiled ``tf.function``,
  ``training=False``), float32 / bf16.
- ``RSS MB``: the subprocess's peak resident memory (``ru_maxrss``).
- ``GFLOP``: one step's FLOPs (2 per multiply-add) of Conv2D, Conv2DTranspose and Dense layers for
  the whole batch: forward x3 for forward + backward, G once and D as often as the step calls it
  (CycleGAN: each generator 3 times, each discriminator on 3 image sets). Counted from the layer
  shapes via ``model.layers`` (nested models recursed); fully convolutional networks with unknown
  spatial size are cloned onto the batch's size first.
- ``mm% f32`` / ``mm% bf16``: achieved FLOP/s of the f32 / bf16 step as a share of the f32 / bf16
  matmul rate; ``inf16 mm%``: the same for the float32 generator's forward pass at batch 16.
- ``call ms``: a traced call on the same batch-16 inputs that does nothing but add 0 and fetch the
  result; ``inf16 cap%``: the ``inf16 mm%`` a generator would reach if its forward pass ran at the
  matmul rate after that call's cost (``work / (work + call)``), so small networks show their ceiling.
- ``empty ms``: for the MNIST MLP GANs, one step of a ``keras.Model`` whose ``train_step`` returns
  ``{}``, run by ``fit()`` on the same dataset: Keras's per-step overhead.
- ``in img/s``: the entry's real training pipeline
  (``recipe.load_data(recipe.resolve_source(data_dir, options), options, None, seed).train``) iterated
  alone (after its first batch, which fills the shuffle buffers); the JSON's ``data`` says whether it
  read the real data (../shared/data/<data set>, or ``--data-dir``) or the synthetic fallback.
- ``in cost``: the time that pipeline takes to make one batch, as a share of the float32 step:
  with prefetching the input is made while the step runs, so this bounds what input can add to a
  step on these shared cores.
- ``wait``: share of step time spent waiting for input, ``(t_real - t_const) / t_real`` floored at 0:
  float32 ``fit()`` on the real pipeline against ``fit()`` on the constant batch, same steps,
  alternating (MNIST entries); for the entries of a second or more per step, the real-pipeline
  steps of the retracing fit below against the constant-batch median of the timed rounds.
- ``retraces``: how often the float32 trainer's ``train_step`` ran in Python (was traced) after the
  first ``fit()``, over every later ``fit()`` of the run: the rounds, the input rounds and a fit of
  ``mem steps`` steps on the real pipeline (1,000 for the MLP GANs; fewer for the expensive entries,
  as listed). The first ``fit()``'s own count (2 where the step makes its metric trackers while
  tracing, which makes ``tf.function`` trace twice) is ``first_traces`` in the JSON.
- ``RSS +MB``: VmRSS growth in that fit between the end of its step ``mem steps / 10`` (step 100 of
  1,000) and its last step.

Steps per entry are in ``PLANS`` (rounds x steps of the timed comparison, input rounds, mem steps);
``--steps N`` sets the steps per round of every entry, ``--quick`` uses 2 rounds x 3 steps, 64 px
crops for pix2pix / CycleGAN and the synthetic data sets. Short steps are timed inside one
``fit()`` from the end of its first step to the end of its last (so ``fit()``'s per-call set-up is
left out); steps of about 0.3 s or more (by the FLOP count) are timed as whole ``fit()`` calls,
from its ``on_train_begin`` to its ``on_train_end``: that leaves out only the release of
``fit()``'s tf.data iterator after its last step, an idle wait (no CPU time) of about 1 s in 6 of
8 calls measured here (none with tf.data autotuning off), which a training run pays once and which
would otherwise add 0.25 s to each of 4 timed steps (the table below was measured before this and
carries it; the heavy-entry table after it does not).

Measured 2026-12-02 16:18-16:43 UTC (``python bench/run.py --json ...``, the default plan, 1517 s in
all), on a quiet machine (nothing else running), 2 CPU cores with AVX512_BF16 / AMX, TensorFlow
2.20.0, Keras 3.15.1, no GPU, glibc malloc tuned (``pix2gan.allocator``), every entry's Adam the
fused one (``pix2gan.optimizers``; the baseline keeps Keras's Adam, as the tutorials do), the MLP
GANs at 50 steps per call. matmul: float32 177.2 GFLOP/s, bfloat16 316.4 GFLOP/s (this machine's
rates were 200 / 250-380 in a check right after; yesterday's machine gave 318 / 1056). Ratios:
ours / baseline, the bf16 columns against the float32 baseline; the heavy entries rest on 2-3
steps per variant, so their wall ratios move by about 0.1 between runs (their CPU ratios less).

| entry | batch | f32 ms | bf16 ms | base ms | f32/base | bf16/base | cpu f32/base | cpu bf16/base | img/s | GFLOP | mm% f32 | mm% bf16 | empty ms | steps/call |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| cgan-mnist | 100 | 40.4 | 27.0 | 44.2 | 0.91 | 0.61 | 0.92 | 0.62 | 2473.6 | 2.82 | 39% | 33% | 0.10 | 50 |
| cloud-removal-eurosat | 64 | 2308.9 | 2079.3 | 2277.1 | 1.01 | 0.91 | 1.02 | 0.67 | 27.7 | 328.30 | 80% | 50% | - | 1 |
| cloud-removal-eurosat-plus | 64 | 2562.2 | 2559.1 | 2326.4 | 1.10 | 1.10 | 1.03 | 0.77 | 25.0 | 328.40 | 72% | 41% | - | 1 |
| cyclegan-eurosat | 1 | 722.4 | 637.2 | 684.5 | 1.06 | 0.93 | 1.01 | 0.80 | 1.4 | 85.12 | 66% | 42% | - | 1 |
| cyclegan-facades | 1 | 12024.0 | 8469.6 | 12132.8 | 0.99 | 0.70 | 0.99 | 0.56 | 0.1 | 1897.14 | 89% | 71% | - | 1 |
| dcgan-eurosat | 128 | 1278.3 | 1274.0 | 1129.3 | 1.13 | 1.13 | 1.01 | 0.81 | 100.1 | 163.15 | 72% | 40% | - | 1 |
| dcgan-eurosat-plus | 64 | 610.5 | 635.2 | 584.8 | 1.04 | 1.09 | 1.04 | 0.83 | 104.8 | 81.58 | 75% | 41% | - | 1 |
| dcgan-mnist | 64 | 70.1 | 61.9 | 77.7 | 0.90 | 0.80 | 0.90 | 0.79 | 912.5 | 8.27 | 67% | 42% | - | 1 |
| gan-mnist | 100 | 6.0 | 5.2 | 6.7 | 0.89 | 0.77 | 0.96 | 0.78 | 16760.1 | 0.49 | 46% | 30% | 0.14 | 50 |
| lsgan-mnist | 100 | 45.3 | 33.8 | 47.9 | 0.95 | 0.71 | 0.96 | 0.75 | 2207.1 | 2.82 | 35% | 26% | 0.13 | 50 |
| pix2pix-facades | 1 | 876.1 | 634.6 | 787.9 | 1.11 | 0.81 | 0.93 | 0.71 | 1.1 | 74.65 | 48% | 37% | - | 1 |
| pix2pix-facades@b16 | 16 | 9620.5 | 7784.2 | 8750.7 | 1.10 | 0.89 | 1.00 | 0.60 | 1.7 | 1194.48 | 70% | 48% | - | 1 |
| sequence-unet | 16 | 2172.1 | 1394.0 | 1966.5 | 1.10 | 0.71 | 0.90 | 0.71 | 7.4 | 221.41 | 58% | 50% | - | 1 |

| entry | inf b1 f32 | inf b1 bf16 | inf b16 f32 | inf b16 bf16 | inf16 mm% | RSS MB | in img/s | wait | retraces | mem steps | RSS +MB |
|---|---|---|---|---|---|---|---|---|---|---|---|
| cgan-mnist | 1124.7 | 873.9 | 9881.6 | 9202.1 | 17% | 1101 | 385025 | 0.0% | 0 | 1000 | +1.1 |
| cloud-removal-eurosat | 63.7 | 57.8 | 108.1 | 164.5 | 92% | 3177 | 5699 | 22.1% | 0 | 3 | +0.0 |
| cloud-removal-eurosat-plus | 59.0 | 59.4 | 112.7 | 157.0 | 96% | 3310 | 559 | 0.1% | 0 | 3 | +41.8 |
| cyclegan-eurosat | 28.0 | 39.4 | 38.3 | 61.7 | 95% | 3061 | 2609 | 0.0% | 0 | 6 | +1.2 |
| cyclegan-facades | 1.6 | 2.9 | 1.8 | 3.0 | 102% | 5644 | 707 | 7.6% | 0 | 2 | +0.0 |
| dcgan-eurosat | 239.7 | 217.3 | 779.8 | 1052.7 | 63% | 1546 | 44192 | 0.0% | 0 | 3 | +0.1 |
| dcgan-eurosat-plus | 308.0 | 317.8 | 870.1 | 1144.7 | 71% | 1269 | 69547 | 0.0% | 0 | 3 | +0.0 |
| dcgan-mnist | 687.5 | 414.1 | 4160.0 | 4045.3 | 37% | 987 | 159697 | 6.1% | 0 | 200 | +2.1 |
| gan-mnist | 2212.2 | 2026.0 | 29038.6 | 25944.8 | 9% | 895 | 284682 | 2.4% | 0 | 1000 | +0.1 |
| lsgan-mnist | 625.7 | 686.6 | 6703.2 | 6141.2 | 11% | 1116 | 255111 | 0.0% | 0 | 1000 | +0.8 |
| pix2pix-facades | 8.2 | 12.4 | 8.9 | 15.7 | 60% | 3642 | 485 | 14.4% | 0 | 4 | +1.0 |
| pix2pix-facades@b16 | 8.1 | 12.4 | 13.1 | 24.3 | 89% | 5239 | 563 | 0.0% | 0 | 2 | +83.9 |
| sequence-unet | 16.5 | 25.6 | 31.1 | 64.2 | 81% | 2634 | 1639 | 0.0% | 0 | 2 | +1.8 |

``wait`` for the entries of a second or more per step compares one real-pipeline step with the
timed rounds' median, so it carries that one step's noise (cloud-removal-eurosat 22.1%, whose
pipeline alone runs 5,699 img/s, 200x what the step takes; pix2pix-facades 14.4% at 485 img/s
against 1.1 img/s trained). The ``in cost`` column came after this run; from its figures
(batch / ``in img/s`` / ``f32 ms``) making a batch costs 0.01-0.9% of the step for every entry but
gan-mnist 5.9% (0.35 ms a batch against a 6.0 ms step; measured wait 2.4%) and
cloud-removal-eurosat-plus 4.5% (its per-tile cloud synthesis, 559 img/s). ``RSS +MB`` of pix2pix-facades@b16 and cloud-removal-eurosat-plus is
between their first and last of 2-3 steps, not growth over many.

Measured again 2026-12-02 21:37-21:53 UTC for the nine entries of a second or more per step, with
their steps timed from ``on_train_begin`` to ``on_train_end`` (``python bench/run.py --only
dcgan-eurosat dcgan-eurosat-plus cloud-removal-eurosat cloud-removal-eurosat-plus cyclegan-eurosat
cyclegan-facades pix2pix-facades pix2pix-facades@b16 sequence-unet``, 919 s, quiet machine;
matmul float32 176.9 GFLOP/s, bfloat16 298.6). The wall and CPU ratios now agree, as they did not
above (pix2pix-facades 1.11 wall against 0.93 CPU there): the gap was the iterator's release.

| entry | batch | f32 ms | bf16 ms | base ms | f32/base | bf16/base | cpu f32/base | cpu bf16/base | mm% f32 | mm% bf16 | inf16 mm% | in cost | wait | RSS +MB |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| cloud-removal-eurosat | 64 | 2288.5 | 1573.4 | 2339.8 | 0.98 | 0.67 | 0.98 | 0.66 | 81% | 70% | 93% | 0.5% | 0.0% | +0.1 |
| cloud-removal-eurosat-plus | 64 | 2063.9 | 1459.6 | 2084.9 | 0.99 | 0.70 | 0.99 | 0.69 | 90% | 75% | 108% | 4.1% | 13.8% | +63.1 |
| cyclegan-eurosat | 1 | 640.9 | 450.8 | 641.4 | 1.00 | 0.70 | 1.00 | 0.69 | 75% | 63% | 93% | 0.1% | 0.0% | +1.5 |
| cyclegan-facades | 1 | 12596.2 | 7642.1 | 12359.9 | 1.02 | 0.62 | 1.02 | 0.62 | 85% | 83% | 101% | 0.0% | 0.0% | +0.0 |
| dcgan-eurosat | 128 | 1157.8 | 899.6 | 1131.0 | 1.02 | 0.80 | 1.03 | 0.80 | 80% | 61% | 79% | 0.1% | 0.0% | +0.0 |
| dcgan-eurosat-plus | 64 | 757.7 | 458.2 | 598.9 | 1.27 | 0.77 | 1.26 | 0.74 | 61% | 60% | 76% | 0.1% | 0.0% | +15.8 |
| pix2pix-facades | 1 | 714.1 | 508.2 | 745.7 | 0.96 | 0.68 | 0.94 | 0.66 | 59% | 49% | 71% | 0.2% | 14.0% | +0.3 |
| pix2pix-facades@b16 | 16 | 8732.3 | 5768.9 | 8456.5 | 1.03 | 0.68 | 1.04 | 0.68 | 77% | 69% | 95% | 0.4% | 0.0% | +56.4 |
| sequence-unet | 16 | 1395.0 | 1000.7 | 1452.1 | 0.96 | 0.69 | 0.96 | 0.67 | 90% | 74% | 113% | 0.4% | 2.8% | +0.0 |

dcgan-eurosat-plus's float32 rounds were 601 and 915 ms (CPU time as well, so not an idle wait):
two one-step rounds cannot settle it; its earlier figure was 1.04. The same day's run of the two
MNIST conv/conditional entries (``--only dcgan-mnist cgan-mnist``, matmul 213.2 / 388.2): cgan-mnist
0.89 float32 / 0.67 bf16, dcgan-mnist 0.97 / 0.88 (against 0.90 / 0.80 above: 3 rounds of 10
steps of 70 ms move by that much).

The inference ceiling, measured 2026-12-03 15:38-15:50 UTC (``python bench/run.py --only gan-mnist
lsgan-mnist cgan-mnist dcgan-mnist dcgan-eurosat cloud-removal-eurosat``, 750 s, nothing else
started on the machine; matmul float32 187.7 GFLOP/s, bfloat16 313.7). An empty traced call on the
batch-16 inputs costs 0.32-0.52 ms, so a generator whose forward pass is a fraction of that cannot
reach a large share of the matmul rate at batch 16:

| entry | inf b16 f32 | inf16 mm% | call ms | inf16 cap% | f32/base | bf16/base |
|---|---|---|---|---|---|---|
| gan-mnist | 32419.5 | 10% | 0.35 | 12% | 0.86 | 0.68 |
| lsgan-mnist | 7313.9 | 12% | 0.38 | 41% | 1.01 | 0.75 |
| cgan-mnist | 6688.8 | 11% | 0.37 | 41% | 0.95 | 0.72 |
| dcgan-mnist | 3032.8 | 25% | 0.32 | 81% | 0.94 | 0.83 |
| dcgan-eurosat | 628.9 | 48% | 0.48 | 96% | 1.06 | 0.80 |
| cloud-removal-eurosat | 95.4 | 77% | 0.52 | 100% | 1.21 | 0.81 |

The last two entries' inference (and cloud-removal's float32 step, 1.21 against 0.98 on
2026-12-02) came out lower than in the runs above, from 2-second inference windows and 3-round
timings on a machine that did not look quiet (dcgan-mnist's ``wait`` 9.2%).

Tried 2026-12-07 and not kept (same-process alternating rounds, 5 rounds, median; nothing else
running): dcgan-mnist in bf16 at 10 steps per call of the compiled step instead of 1, 63.8 against
63.8 ms per step (both 0.89x the float32 baseline's 71.6 ms), so its 1 step per call stays;
cgan-mnist's float32 step with XLA (``jit_compile=True``), 53.4 against 51.0 ms per 100-step
call (1.05x slower), so XLA stays off there too.

The CycleGAN entries after their generators' residual stream went float32 under a mixed policy
(bench/precision.py has the quality), measured 2026-12-07 18:33-18:40 UTC (``python bench/run.py
--only cyclegan-eurosat --steps 6``, then ``--only cyclegan-facades``; nothing else running). This
machine's matmul rates were float32 288.6 / 266.8 and bfloat16 965.0 / 831.7 GFLOP/s, so its
shares are not comparable with the tables above; the ratios are against the baseline of the same run:

| entry | batch | f32 ms | bf16 ms | base ms | f32/base | bf16/base | cpu f32/base | cpu bf16/base | inf16 mm% | wait | retraces |
|---|---|---|---|---|---|---|---|---|---|---|---|
| cyclegan-eurosat | 1 | 698.3 | 477.7 | 718.9 | 0.97 | 0.66 | 0.97 | 0.63 | 63% | 2.4% | 0 |
| cyclegan-facades | 1 | 9349.0 | 3506.0 | 9006.6 | 1.04 | 0.39 | 1.04 | 0.39 | 84% | 0.0% | 0 |

Tried the same day and not kept (same process, alternating rounds, 5 rounds, median; nothing else
running): folding each generator BatchNorm into the Dense / transposed conv before it (an
inference-only copy, outputs equal to 5e-8) raised batch-16 inference from 984 to 1065 img/s for
dcgan-eurosat (+8%, 50% -> 54% of this machine's float32 matmul rate) and from 4778 to 5006 for
dcgan-mnist (+5%): short of the 85% target for either, so the copy was not built; dcgan-mnist's
first D conv (2 input channels) in float32 inside its bf16 step, 63.6 against 57.7 ms, slower.

Normalisation layers and the activation (dropout, sum) after each in float32 under a mixed policy
(``pix2gan.precision.keep_norms_float32``, which every builder applies through
``pix2gan.networks.blocks.network``; kept), 2026-12-07. A profile of dcgan-mnist's bf16 step
(TF profiler, summed over both compute threads) put LeakyReluGrad at 14.1 ms a step against 2.9 ms
in float32, and 72 Casts at 8.9 ms: TF's bfloat16 elementwise kernels are slow. On one
64x14x14x64 map, LeakyReLU forward + gradient took 2.6 ms in bf16 and 1.1 ms as cast -> float32
-> cast; a conv -> BatchNorm -> LeakyReLU -> conv block trained 10-15% faster with the norm and the
activation in float32 (ReLU 0-10%), its inference 2-7% faster; an activation straight after a conv
(no norm) gained in training but lost in inference, so it keeps the policy. The old code (70416ed), then the
new, each in its own run on one quiet machine (``python bench/run.py --only cyclegan-facades
pix2pix-facades dcgan-mnist lsgan-mnist``, 23:14-23:33 UTC; matmul float32 276 / 300, bfloat16
966 / 1133 GFLOP/s in the two runs), bf16 step / float32 baseline of the same run:

| entry | bf16/base before | bf16/base after | cpu before | cpu after | inf b16 bf16 before | after |
|---|---:|---:|---:|---:|---:|---:|
| dcgan-mnist | 0.86 | 0.74 | 0.82 | 0.72 | 4322 | 6072 |
| lsgan-mnist | 0.86 | 0.78 | 0.88 | 0.77 | 7343 | 10748 |
| pix2pix-facades | 0.57 | 0.54 | 0.56 | 0.52 | 48.8 | 50.7 |
| pix2pix-facades@b16 | 0.45 | 0.42 | 0.46 | 0.42 | 52.5 | 48.2 |
| cyclegan-facades | 0.39 | 0.39 | 0.39 | 0.39 | 4.5 | 4.7 |

The whole bench with the change (``python bench/run.py``, 22:55-23:14 UTC, nothing else running;
matmul float32 305.3, bfloat16 1035.3 GFLOP/s; the f32 columns are unchanged networks):

| entry | batch | f32 ms | bf16 ms | base ms | f32/base | bf16/base | cpu f32/base | cpu bf16/base | inf b16 f32 | inf b16 bf16 | inf16 mm% | inf16 cap% | wait | retraces |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| cgan-mnist | 100 | 27.4 | 22.6 | 31.7 | 0.87 | 0.71 | 0.88 | 0.72 | 10105.3 | 10328.6 | 10% | 38% | 0.0% | 0 |
| cloud-removal-eurosat | 64 | 1727.1 | 1041.7 | 1737.0 | 0.99 | 0.60 | 0.99 | 0.59 | 145.9 | 318.0 | 72% | 99% | 2.3% | 0 |
| cloud-removal-eurosat-plus | 64 | 1883.4 | 1118.7 | 1882.7 | 1.00 | 0.59 | 1.00 | 0.58 | 146.0 | 302.9 | 72% | 99% | 0.0% | 0 |
| cyclegan-eurosat | 1 | 609.5 | 415.0 | 637.6 | 0.96 | 0.65 | 0.96 | 0.60 | 46.7 | 93.2 | 67% | 100% | 0.0% | 0 |
| cyclegan-facades | 1 | 8914.7 | 3816.7 | 9006.8 | 0.99 | 0.42 | 0.99 | 0.42 | 2.3 | 4.7 | 74% | 100% | 0.0% | 0 |
| dcgan-eurosat | 128 | 893.0 | 536.2 | 881.3 | 1.01 | 0.61 | 1.00 | 0.60 | 1173.5 | 1887.8 | 55% | 97% | 1.0% | 0 |
| dcgan-eurosat-plus | 64 | 439.6 | 255.7 | 441.4 | 1.00 | 0.58 | 1.00 | 0.57 | 1212.8 | 1966.0 | 57% | 97% | 1.7% | 0 |
| dcgan-mnist | 64 | 62.9 | 46.7 | 60.6 | 1.04 | 0.77 | 1.02 | 0.75 | 5224.5 | 5372.0 | 27% | 71% | 3.8% | 0 |
| gan-mnist | 100 | 4.2 | 3.6 | 5.1 | 0.82 | 0.70 | 0.78 | 0.69 | 33036.0 | 32080.4 | 6% | 11% | 3.4% | 0 |
| lsgan-mnist | 100 | 29.7 | 26.1 | 33.4 | 0.89 | 0.78 | 0.91 | 0.79 | 11162.3 | 10170.6 | 11% | 35% | 0.0% | 0 |
| pix2pix-facades | 1 | 609.3 | 390.6 | 685.2 | 0.89 | 0.57 | 0.88 | 0.55 | 17.9 | 56.3 | 71% | 100% | 3.7% | 0 |
| pix2pix-facades@b16 | 16 | 5960.1 | 2465.0 | 6038.8 | 0.99 | 0.41 | 0.99 | 0.41 | 19.2 | 52.1 | 76% | 100% | 0.0% | 0 |
| sequence-unet | 16 | 1291.7 | 750.2 | 1286.5 | 1.00 | 0.58 | 1.00 | 0.56 | 47.3 | 106.0 | 72% | 100% | 0.0% | 0 |

Every entry's bf16 step is now at most 0.78x its baseline (cgan-mnist's too, 0.71x, but it trains
in float32 under 'auto': bench/precision.py), and pix2pix-facades@b16 trains at 66% of the float32
matmul rate in float32. cyclegan-facades' 3817 ms here against 3413-3419 ms in both runs of the
table above is one of this run's two one-step rounds. ``wait`` of dcgan-mnist, gan-mnist and
pix2pix-facades came out at 3.4-3.8% in this run (under 2% before, in cost 0.2-6.7%).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
SHARED = os.path.join(REPO, "..", "shared", "data")

# Steps per entry: (rounds, steps per round) for the timed comparison, (rounds, steps) for the
# input-wait comparison, steps of the retracing / memory fit. Sized so the default run takes about
# 25 minutes on 2 cores: heavy entries get 2-3 measured steps per variant, MNIST hundreds.
PLANS = {
    "gan-mnist": ((5, 100), (3, 100), 1000),
    "cgan-mnist": ((5, 100), (3, 100), 1000),
    "lsgan-mnist": ((5, 100), (3, 100), 1000),
    "dcgan-mnist": ((3, 10), (2, 10), 200),
    "dcgan-eurosat": ((2, 1), (0, 0), 3),
    "dcgan-eurosat-plus": ((2, 1), (0, 0), 3),
    "cloud-removal-eurosat": ((2, 1), (0, 0), 3),
    "cloud-removal-eurosat-plus": ((2, 1), (0, 0), 3),
    "cyclegan-eurosat": ((3, 2), (0, 0), 6),
    "cyclegan-facades": ((2, 1), (0, 0), 2),
    "pix2pix-facades": ((3, 1), (0, 0), 4),
    "pix2pix-facades@b16": ((2, 1), (0, 0), 2),
    "sequence-unet": ((2, 1), (0, 0), 2),
}
# (input rounds 0: the wait share comes from the retracing fit on the real pipeline against the
# constant-batch median of the timed rounds, which saves the heavy entries two more fits)
QUICK_PLAN = ((2, 3), (1, 3), 20)  # mem steps >= 3: the wait needs 2 intervals
MLP_GANS = ("gan-mnist", "cgan-mnist", "lsgan-mnist")
# where each data set lives in the shared copy (read in place)
SHARED_DIRS = {"mnist": "mnist", "eurosat": "eurosat", "facades": "facades"}


def say(*parts) -> None:
    print(*parts, flush=True)


def configs(only: list[str] | None) -> list[tuple[str, str, dict]]:
    """``(label, entry, setting overrides)`` of every configuration benched."""
    from pix2gan import zoo
    out = []
    for name in zoo.names():
        out.append((name, name, {}))
        if name == "pix2pix-facades":
            out.append((f"{name}@b16", name, {"batch_size": 16}))
    if only:
        out = [c for c in out if c[0] in only or c[1] in only]
    return out


# ----------------------------------------------------------------------------- measurements

def matmul_rate(dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """Sustained matmul FLOP/s of this machine in ``dtype`` (TensorFlow, all cores)."""
    import tensorflow as tf
    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    mm = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    mm().numpy()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mm().numpy()
        count += 1
    return 2.0 * n ** 3 * count / (time.perf_counter() - start)


def vm_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def clock(call) -> tuple[float, float]:
    """Wall and process CPU seconds of one ``call()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def all_layers(model):
    """Every layer of ``model``, nested models' layers included (public ``model.layers`` only)."""
    import keras
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
        else:
            yield layer


def forward_flops(model, image_shape=None) -> float:
    """Forward FLOPs per image of every Conv2D, Conv2DTranspose and Dense in ``model``. A network
    whose input has unknown spatial dimensions is cloned onto ``image_shape`` first."""
    import keras
    import numpy as np
    shape = tuple(model.inputs[0].shape[1:])
    if len(model.inputs) == 1 and None in shape and image_shape is not None:
        model = keras.models.clone_model(model, input_tensors=keras.Input(shape=tuple(image_shape), batch_size=1))
    total = 0.0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
            total += 2.0 * h * w * cin * np.prod(layer.kernel_size) * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            cin = layer.input.shape[-1]
            total += 2.0 * h * w * cout * np.prod(layer.kernel_size) * cin / layer.groups
        elif isinstance(layer, keras.layers.Dense):
            positions = np.prod([d for d in layer.input.shape[1:-1]]) if len(layer.input.shape) > 2 else 1
            total += 2.0 * positions * layer.input.shape[-1] * layer.units
    return float(total)


def median(values) -> float:
    import numpy as np
    return float(np.median(np.asarray(values, dtype=float))) if values else float("nan")


# ----------------------------------------------------------------------------- the baseline steps

def baseline_step(recipe, trainer, batch):
    """A plain float32 ``tf.function`` step over ``trainer``'s networks, written as the TensorFlow
    tutorials write it; returns ``run()`` (one step) for the entry's kind of trainer."""
    import keras
    import tensorflow as tf
    kind = type(trainer).__name__
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def adam(variables):
        opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
        opt.build(variables)  # before the first traced call (see KERAS3_NOTES)
        return opt

    if kind == "CycleGAN":
        from bench.cyclegan import reference_step
        step = reference_step(recipe.image_size, recipe.n_blocks)
        a, b = tf.constant(batch[0]), tf.constant(batch[1])
        return lambda: step(a, b).numpy(), "bench.cyclegan.reference_step"
    if kind == "Regression":
        g = trainer.generator
        opt = adam(g.trainable_variables)
        x, y = tf.constant(batch[0]), tf.constant(batch[1])

        @tf.function
        def regress(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.abs(g(x, training=True) - y))
            opt.apply_gradients(zip(tape.gradient(loss, g.trainable_variables), g.trainable_variables))
            return loss
        return lambda: regress(x, y).numpy(), "L1 regression, one tape"
    g, d = trainer.generator, trainer.discriminator
    g_opt, d_opt = adam(g.trainable_variables), adam(d.trainable_variables)
    if kind == "LatentGAN":
        images = tf.constant(batch[0] if isinstance(batch, tuple) else batch)
        labels = tf.reshape(tf.cast(batch[1], tf.int32), (-1, 1)) if isinstance(batch, tuple) else None
        conditional = len(g.inputs) == 2
        latent = g.inputs[0].shape[-1]
        lsgan = trainer.adversarial_loss == "lsgan"
        n = images.shape[0]

        def adv(logits, target):
            if lsgan:
                return tf.reduce_mean(tf.square(logits - target))
            return bce(tf.fill(tf.shape(logits), target), logits)

        @tf.function
        def latent_step(images, labels):
            z = tf.random.normal((n, latent))
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = g([z, labels] if conditional else z, training=True)
                real_out = d([images, labels] if conditional else images, training=True)
                fake_out = d([fake, labels] if conditional else fake, training=True)
                g_loss = adv(fake_out, 1.0)
                d_loss = adv(real_out, 1.0) + adv(fake_out, 0.0)
            d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
            g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
            return g_loss
        return (lambda: latent_step(images, labels).numpy(),
                f"z{' + labels' if conditional else ''} -> G -> D, {'LSGAN' if lsgan else 'BCE'}")
    # pix2pix objective (Pix2Pix, CloudPix2Pix, SequencePix2Pix): the first target is the image
    x = tf.constant(batch[0])
    y = tf.constant(batch[1][0] if isinstance(batch[1], tuple) else batch[1])
    step = tutorial_pix2pix_step(g, d, g_opt, d_opt)
    conditional = len(d.inputs) == 2
    return lambda: step(x, y)["g_adv"].numpy(), f"pix2pix BCE + 100 L1, {'conditional' if conditional else 'plain'} D"


def tutorial_pix2pix_step(g, d, g_opt, d_opt, l1_weight: float = 100.0):
    """The pix2pix step as the TensorFlow tutorial writes it: one ``tf.function``, two tapes, BCE
    on D's logits + ``l1_weight`` L1 for G (D sees the input beside the image where it takes two
    inputs; it scores the fake, then the real, in the order of pix2gan's ``Pix2Pix``, so float32
    steps of the two can be compared weight for weight); ``step(x, y)`` returns
    ``{"g_adv", "g_l1", "d_loss"}``. The optimizers must be built."""
    import keras
    import tensorflow as tf
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    conditional = len(d.inputs) == 2

    @tf.function
    def step(x, y):
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = g(x, training=True)
            fake_out = d([x, fake] if conditional else fake, training=True)
            real_out = d([x, y] if conditional else y, training=True)
            g_adv, g_l1 = bce(tf.ones_like(fake_out), fake_out), tf.reduce_mean(tf.abs(y - fake))
            g_loss = g_adv + l1_weight * g_l1
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        g_opt.apply(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables)
        d_opt.apply(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables)
        return {"g_adv": g_adv, "g_l1": g_l1, "d_loss": d_loss}
    return step


def step_flops(trainer, image_shape) -> float:
    """FLOPs of one step per image (forward x3 for forward + backward, every network call)."""
    kind = type(trainer).__name__
    nets = trainer.networks
    if kind == "CycleGAN":
        g = sum(forward_flops(nets[n], image_shape) for n in ("generator_ab", "generator_ba"))
        d = sum(forward_flops(nets[n], image_shape) for n in ("discriminator_a", "discriminator_b"))
        calls_g = 3 if trainer.identity_weight else 2
        return 3.0 * (calls_g * g + 3 * d)
    g = forward_flops(nets["generator"], image_shape)
    if "discriminator" not in nets:
        return 3.0 * g
    return 3.0 * (g + 2 * forward_flops(nets["discriminator"], image_shape))


def generator_of(trainer):
    return trainer.networks["generator_ab"] if "generator_ab" in trainer.networks else trainer.generator


def generator_inputs(generator, batch, n: int):
    """Inputs of ``n`` images for ``generator``: noise (+ labels) or the batch's first images, tiled."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(1)
    if len(generator.inputs) == 2 or len(generator.inputs[0].shape) == 2:
        z = tf.constant(rng.standard_normal((n, generator.inputs[0].shape[-1])).astype("float32"))
        return [z, tf.constant(rng.integers(0, 10, (n, 1)).astype("int32"))] if len(generator.inputs) == 2 else z
    x = batch[0]
    reps = -(-n // x.shape[0])
    return tf.constant(np.concatenate([x] * reps)[:n])


def inference_rate(generator, inputs, n: int, seconds: float) -> float:
    """Images/s of ``generator(inputs, training=False)`` compiled with tf.function (median call)."""
    import tensorflow as tf
    return call_rate(tf.function(lambda x: generator(x, training=False)), inputs, n, seconds)


def empty_call_seconds(inputs, seconds: float) -> float:
    """Median seconds of a traced call that only adds 0 to the first input and fetches it: what
    every inference call costs before the network runs."""
    import tensorflow as tf
    return 1.0 / call_rate(tf.function(lambda x: tf.nest.flatten(x)[0] + 0), inputs, 1, seconds)


def call_rate(run, inputs, n: int, seconds: float) -> float:
    """``n`` / the median seconds of ``run(inputs).numpy()`` after one warm-up call."""
    run(inputs).numpy()
    times, start = [], time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - start < seconds and len(times) < 200):
        wall = time.perf_counter()
        run(inputs).numpy()
        times.append(time.perf_counter() - wall)
    return n / median(times)


# ----------------------------------------------------------------------------- one entry (subprocess)

def synthetic_batch(spec, batch_size: int):
    """One batch of random values with ``spec``'s shapes and dtypes (the batch dimension filled in)."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(0)

    def make(s):
        shape = [batch_size if d is None else d for d in s.shape]
        if s.dtype.is_integer:
            return rng.integers(0, 10, shape).astype(s.dtype.as_numpy_dtype)
        return rng.uniform(0, 1, shape).astype(s.dtype.as_numpy_dtype)
    return tf.nest.map_structure(make, spec)


def constant_dataset(batch, spec):
    """``from_tensors(batch).repeat()`` with the real pipeline's element_spec (static shapes relaxed
    to it), so the trainer's train function sees one signature from both datasets."""
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensors(batch).repeat()

    def relax(*tensors):
        flat = [tf.compat.v1.placeholder_with_default(t, shape=s.shape)
                for t, s in zip(tf.nest.flatten(tensors), tf.nest.flatten(spec))]
        return tf.nest.pack_sequence_as(spec, flat)
    return ds.map(relax)


def count_traces(trainer) -> list[int]:
    """Wrap ``trainer.train_step`` so each Python execution (a trace) adds one to the returned counter."""
    counter = [0]
    inner = trainer.train_step

    def train_step(data):
        counter[0] += 1
        return inner(data)
    trainer.train_step = train_step
    return counter


def shared_data_dir(recipe) -> str | None:
    """The shared copy of ``recipe``'s data set (../shared/data/<data set>), or None where it is absent."""
    shared = os.path.join(SHARED, SHARED_DIRS.get(recipe.dataset, recipe.dataset))
    return shared if os.path.exists(shared) and recipe.holds_data(shared) else None


def entry_pipeline(recipe, data_dir: str | None, synthetic: bool):
    """``(description, train)``: ``recipe``'s real training pipeline, repeated forever, from
    ``data_dir``, else the shared copy (../shared/data/<data set>) where it holds the data, else
    (or with ``synthetic``) the built-in synthetic set."""
    import tensorflow as tf
    if data_dir is None and not synthetic:
        data_dir = shared_data_dir(recipe)
    opts = recipe.Options(synthetic=data_dir is None and synthetic)
    source = recipe.resolve_source(data_dir, opts)
    data = recipe.load_data(source, opts, None, 0)
    train = data.train
    if int(train.cardinality()) != int(tf.data.INFINITE_CARDINALITY):
        train = train.repeat()
    described = source.kind if source.kind == "synthetic" else f"{source.kind} {os.path.normpath(source.path)}"
    return described, train


def child(args) -> dict:
    import keras
    import tensorflow as tf

    from pix2gan import zoo
    from pix2gan.allocator import allocator_state, tune_allocator
    from pix2gan.precision import precision_scope, unsupported_reason
    from pix2gan.training import set_steps_per_execution, steps_per_call

    label, entry, overrides = args.child, args.entry, json.loads(args.overrides)
    (rounds, steps), (in_rounds, in_steps), mem_steps = PLANS[label]
    if args.quick:  # smoke run: at most the quick plan's steps
        (q_rounds, q_steps), (q_in_rounds, q_in_steps), q_mem = QUICK_PLAN
        rounds, steps = q_rounds, min(q_steps, steps)
        in_rounds, in_steps = min(q_in_rounds, in_rounds), min(q_in_steps, in_steps)
        mem_steps = min(q_mem, max(3, mem_steps))
    if args.steps:
        steps = in_steps = args.steps
    tune_allocator()  # as Recipe.train does: the step is timed under the allocator training uses
    keras.utils.set_random_seed(0)
    recipe = zoo.get(entry, **overrides)
    if args.quick and hasattr(recipe, "image_size") and entry.startswith(("pix2pix", "cyclegan")):
        recipe = recipe.replace(image_size=64)  # smoke run: small sizes
    row = {"entry": label, "batch": recipe.batch_size, "allocator": allocator_state(),
           "plan": {"rounds": rounds, "steps": steps, "input_rounds": in_rounds, "input_steps": in_steps,
                    "mem_steps": mem_steps}}

    # --- the real training pipeline (or the synthetic fallback)
    start = time.perf_counter()
    row["data"], real_ds = entry_pipeline(recipe, args.data_dir, args.quick)
    row["data_load_s"] = time.perf_counter() - start
    spec = real_ds.element_spec
    batch = synthetic_batch(spec, recipe.batch_size)
    const_ds = constant_dataset(batch, spec)
    image_shape = tf.nest.flatten(spec)[0].shape[1:]
    say(f"  [{label}] data: {row['data']} ({row['data_load_s']:.1f} s), batch {recipe.batch_size}, "
        f"spec {[tuple(s.shape) for s in tf.nest.flatten(spec)]}")

    # --- trainers
    precisions = ["float32"]
    reason = unsupported_reason("mixed_bfloat16")
    if reason:
        say(f"  [{label}] bf16 skipped: {reason}")
        row["bf16_skipped"] = reason
    else:
        precisions.append("mixed_bfloat16")
    trainers, traces = {}, {}
    for p in precisions:
        with precision_scope(p):
            trainers[p] = recipe.build_trainer(1000, 0, False)
        traces[p] = count_traces(trainers[p])
    f32 = trainers["float32"]
    run_base, base_kind = baseline_step(recipe, f32, batch)
    row["baseline"] = base_kind

    # our fit() runs the entry's steps per call of the compiled step, as Recipe.train does
    per_call_wanted = args.steps_per_execution or recipe.default_steps_per_execution
    row["steps_per_execution"] = per_call_wanted

    def per_call(n):
        return steps_per_call(n, per_call_wanted)

    def fit(trainer, ds, n, callbacks=(), k=None):
        set_steps_per_execution(trainer, k or per_call(n))
        trainer.fit(ds, steps_per_epoch=n, epochs=1, verbose=0, callbacks=list(callbacks))

    class Stamps(keras.callbacks.Callback):
        """Wall and CPU clock at the end of every batch (``marks``), and at the start and the end
        of training (``span``)."""
        def __init__(self):
            super().__init__()
            self.marks, self.span = [], []

        def on_train_batch_end(self, batch_index, logs=None):
            self.marks.append((time.perf_counter(), time.process_time()))

        def on_train_begin(self, logs=None):
            self.span.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, logs=None):
            self.span.append((time.perf_counter(), time.process_time()))

    def timed_fit(trainer, ds, n):
        """Wall and CPU seconds per step of ``n`` steps of one ``fit()`` of ``n + k`` steps (``k`` the
        steps per call): from the end of its first call to the end of its last, so the per-call cost
        of ``fit()`` (its iterator, its callbacks) is left out, as it is paid once per training run,
        not per step."""
        stamps = Stamps()
        k = per_call(n)
        fit(trainer, ds, n + k, [stamps], k)
        (w0, c0), (w1, c1) = stamps.marks[0], stamps.marks[-1]
        return (w1 - w0) / n, (c1 - c0) / n

    def base_steps(n):
        for _ in range(n):
            run_base()

    start = time.perf_counter()
    for p, t in trainers.items():
        fit(t, const_ds, per_call(steps))  # trace (the function timed below) outside the timing
    first_traces = traces["float32"][0]
    run_base()
    say(f"  [{label}] traced {', '.join(trainers)} and the baseline in {time.perf_counter() - start:.1f} s; "
        f"{rounds} rounds x {steps} steps")

    # FLOPs first: they say whether a step is long enough to time whole fit() calls
    rates = json.loads(args.rates)
    per_image = step_flops(f32, image_shape)
    row["gflop_step"] = per_image * recipe.batch_size / 1e9
    # a step of a second or more: whole calls of `steps` steps are timed, from fit()'s
    # on_train_begin to its on_train_end (so its iterator's making and first batch count, but not
    # the release of its tf.data iterator after the last step: an idle wait of about 1 s in 6 of
    # 8 calls here, paid once per training run, which would add 0.25 s to each of 4 timed steps);
    # shorter steps are timed inside one fit() (see timed_fit)
    slow = row["gflop_step"] * 1e9 / rates["float32"] > 0.3

    def time_fit(trainer, ds, n):
        if slow:
            stamps = Stamps()
            fit(trainer, ds, n, [stamps])
            (w0, c0), (w1, c1) = stamps.span
            return (w1 - w0) / n, (c1 - c0) / n
        return timed_fit(trainer, ds, n)

    # --- alternating rounds: ours f32, baseline, ours bf16
    times = {p: [] for p in precisions}
    times["baseline"] = []
    for r in range(rounds):
        for name in precisions[:1] + ["baseline"] + precisions[1:]:
            if name == "baseline":
                wall, cpu = clock(lambda: base_steps(steps))
                times[name].append((wall / steps, cpu / steps))
            else:
                times[name].append(time_fit(trainers[name], const_ds, steps))
        say(f"  [{label}] round {r + 1}: " + ", ".join(f"{k} {v[-1][0] * 1e3:.1f} ms" for k, v in times.items()))
    for name, values in times.items():
        key = {"float32": "f32", "mixed_bfloat16": "bf16", "baseline": "base"}[name]
        row[f"{key}_ms"] = median([w for w, _ in values]) * 1e3
        row[f"{key}_cpu_ms"] = median([c for _, c in values]) * 1e3
    for key in ("f32", "bf16"):
        if f"{key}_ms" in row:
            row[f"{key}_ratio"] = row[f"{key}_ms"] / row["base_ms"]
            row[f"{key}_cpu_ratio"] = row[f"{key}_cpu_ms"] / row["base_cpu_ms"]
    row["img_s"] = recipe.batch_size / (row["f32_ms"] / 1e3)

    # --- shares of the matmul rates
    row["mm_f32"] = row["gflop_step"] * 1e9 / (row["f32_ms"] / 1e3) / rates["float32"]
    if "bf16_ms" in row and rates.get("bfloat16"):
        row["mm_bf16"] = row["gflop_step"] * 1e9 / (row["bf16_ms"] / 1e3) / rates["bfloat16"]

    # --- generator inference
    seconds = 0.2 if args.quick else 2.0
    g_flops = forward_flops(generator_of(f32), image_shape)
    for n in (1, 16):
        for p, t in trainers.items():
            key = "f32" if p == "float32" else "bf16"
            g = generator_of(t)
            row[f"inf{n}_{key}"] = inference_rate(g, generator_inputs(g, batch, n), n, seconds)
        if n == 16:
            row["inf16_mm_f32"] = g_flops * row["inf16_f32"] / rates["float32"]
            # the most inf16 mm% could be: the forward pass at the matmul rate, after an empty call
            work = g_flops * n / rates["float32"]
            row["inf16_call_ms"] = empty_call_seconds(generator_inputs(generator_of(f32), batch, n), seconds) * 1e3
            row["inf16_cap"] = work / (work + row["inf16_call_ms"] / 1e3)
            if "inf16_bf16" in row and rates.get("bfloat16"):
                row["inf16_mm_bf16"] = g_flops * row["inf16_bf16"] / rates["bfloat16"]
    say(f"  [{label}] inference img/s b1 {row['inf1_f32']:.1f} / {row.get('inf1_bf16', float('nan')):.1f}, "
        f"b16 {row['inf16_f32']:.1f} / {row.get('inf16_bf16', float('nan')):.1f} (f32 / bf16)")

    # --- per-step overhead of fit() (MLP GANs)
    if entry in MLP_GANS:
        class EmptyStep(keras.Model):
            def call(self, inputs):
                return inputs

            def train_step(self, data):
                # `{}` itself fails in Keras 3.15's TF trainer (OptionalFromValue of no tensors), so
                # the step returns one constant
                return {"n": tf.constant(0.0)}
        empty = EmptyStep()
        empty.compile()
        empty.built = True
        fit(empty, const_ds, 1)
        empties = [timed_fit(empty, const_ds, steps)[0] for _ in range(rounds)]
        row["empty_ms"] = median(empties) * 1e3
        row["empty_steps_s"] = 1e3 / row["empty_ms"]

    # --- input pipeline alone, then the wait share (real pipeline vs constant batch, alternating)
    n_batches = max(in_steps * in_rounds, 10 if recipe.batch_size >= 16 else 50)
    iterator = iter(real_ds)
    next(iterator)  # the first batch fills shuffle buffers: startup, not throughput
    wall = time.perf_counter()
    for _ in range(n_batches):
        tf.nest.map_structure(lambda t: t.numpy(), next(iterator))
    row["input_img_s"] = n_batches * recipe.batch_size / (time.perf_counter() - wall)
    # what making one batch costs the cores the step also runs on, as a share of the step
    row["input_share"] = recipe.batch_size / row["input_img_s"] / (row["f32_ms"] / 1e3)
    del iterator
    real_t, const_t = [], []
    for _ in range(in_rounds):
        real_t.append(timed_fit(f32, real_ds, in_steps)[0])
        const_t.append(timed_fit(f32, const_ds, in_steps)[0])

    # --- retracing and memory growth over one long fit() on the real pipeline (its steps after the
    # first also give the wait share where no input rounds were run)
    marks = {}
    mark_at = max(1, mem_steps // 10)

    class Rss(Stamps):
        def on_train_batch_end(self, batch_index, logs=None):
            super().on_train_batch_end(batch_index, logs)
            if batch_index + 1 >= mark_at and "early" not in marks:
                marks["early"] = vm_rss_mb()
            marks["last"] = vm_rss_mb()
    before = traces["float32"][0]
    rss = Rss()
    fit(f32, real_ds, mem_steps, [rss])
    if not in_rounds:
        (w0, _), (w1, _) = rss.marks[0], rss.marks[-1]
        real_t, const_t = [(w1 - w0) / ((len(rss.marks) - 1) * per_call(mem_steps))], [row["f32_ms"] / 1e3]
    t_real, t_const = median(real_t), median(const_t)
    row["wait"] = max(0.0, (t_real - t_const) / t_real)
    row["real_ms"], row["const_ms"] = t_real * 1e3, t_const * 1e3
    say(f"  [{label}] input {row['input_img_s']:.0f} img/s alone; fit real {t_real * 1e3:.1f} ms/step vs constant "
        f"{t_const * 1e3:.1f}: wait {row['wait']:.1%}")
    row["mem_steps"] = mem_steps
    row["rss_growth_mb"] = marks["last"] - marks["early"]
    row["first_traces"] = first_traces
    row["retraces"] = traces["float32"][0] - first_traces
    row["traces_in_mem_fit"] = traces["float32"][0] - before
    getter = getattr(f32.train_function, "experimental_get_tracing_count", None)
    if getter is not None:
        row["train_function_tracing_count"] = int(getter())
    if "mixed_bfloat16" in traces:
        row["traces_bf16"] = traces["mixed_bfloat16"][0]
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    say(f"  [{label}] {mem_steps} steps: train_step traced {first_traces}x by the first fit, retraced "
        f"{row['retraces']}x after it ({row['traces_in_mem_fit']} "
        f"in that fit), RSS {marks['early']:.0f} -> {marks['last']:.0f} MB; peak RSS {row['peak_rss_mb']:.0f} MB")
    return row


# ----------------------------------------------------------------------------- the table

COLUMNS = [  # (header, key, format)
    ("entry", "entry", "{}"), ("batch", "batch", "{}"),
    ("f32 ms", "f32_ms", "{:.1f}"), ("bf16 ms", "bf16_ms", "{:.1f}"), ("base ms", "base_ms", "{:.1f}"),
    ("f32/base", "f32_ratio", "{:.2f}"), ("bf16/base", "bf16_ratio", "{:.2f}"),
    ("cpu f32/base", "f32_cpu_ratio", "{:.2f}"), ("cpu bf16/base", "bf16_cpu_ratio", "{:.2f}"),
    ("img/s", "img_s", "{:.1f}"),
    ("inf b1 f32", "inf1_f32", "{:.1f}"), ("inf b1 bf16", "inf1_bf16", "{:.1f}"),
    ("inf b16 f32", "inf16_f32", "{:.1f}"), ("inf b16 bf16", "inf16_bf16", "{:.1f}"),
    ("RSS MB", "peak_rss_mb", "{:.0f}"), ("GFLOP", "gflop_step", "{:.2f}"),
    ("mm% f32", "mm_f32", "{:.0%}"), ("mm% bf16", "mm_bf16", "{:.0%}"), ("inf16 mm%", "inf16_mm_f32", "{:.0%}"),
    ("call ms", "inf16_call_ms", "{:.2f}"), ("inf16 cap%", "inf16_cap", "{:.0%}"),
    ("empty ms", "empty_ms", "{:.2f}"), ("steps/call", "steps_per_execution", "{}"),
    ("in img/s", "input_img_s", "{:.0f}"), ("in cost", "input_share", "{:.1%}"), ("wait", "wait", "{:.1%}"),
    ("retraces", "retraces", "{}"), ("mem steps", "mem_steps", "{}"), ("RSS +MB", "rss_growth_mb", "{:+.1f}"),
]
REQUIRED = [key for _, key, _ in COLUMNS if key not in ("bf16_ms", "bf16_ratio", "bf16_cpu_ratio", "inf1_bf16",
                                                       "inf16_bf16", "mm_bf16", "empty_ms")]


def cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    return fmt.format(value)


def table(rows: list[dict], columns=None) -> str:
    """A Markdown table of ``rows`` with ``columns`` (``(header, key, format)``; default this
    bench's); a failed entry's row says why."""
    columns = columns or COLUMNS
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['entry']} | failed: {row['error']} |")
            continue
        lines.append("| " + " | ".join(cell(row, k, f) for _, k, f in columns) + " |")
    return "\n".join(lines)


def finite_row(row: dict) -> bool:
    """Whether every required column of ``row`` holds a finite number."""
    return all(isinstance(row.get(k), (int, float)) and math.isfinite(row[k]) for k in REQUIRED if k != "entry")


def write_json(path: str, rows: list[dict], **fields) -> None:
    """``rows`` as ``entries`` in a JSON file at ``path``, with the date, cores, library versions and
    ``fields``."""
    import keras
    import tensorflow as tf
    with open(path, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_cores": os.cpu_count(),
                   "tensorflow": tf.__version__, "keras": keras.__version__, **fields, "entries": rows}, f, indent=1)


def spawn(cmd: list[str], timeout: float, label: str) -> dict:
    """Run the subprocess ``cmd`` of the entry ``label``: echo its progress lines (those starting
    ``"  ["``), kill it after ``timeout`` seconds, and return the row of its ``RESULT`` line; where
    it gave none, print the last 20 other lines of its output and return ``{"entry", "error"}``."""
    row, tail = None, []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        # a timer, not a check per line: a child that prints nothing is stopped too, and one whose
        # result arrives in time keeps it
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            for line in proc.stdout:
                if line.startswith("RESULT "):
                    row = json.loads(line[len("RESULT "):])
                elif line.startswith("  ["):
                    say(line.rstrip())
                else:
                    tail = (tail + [line.rstrip()])[-20:]
        finally:
            watchdog.cancel()
        proc.wait()
        if row is None and proc.returncode == -9:
            tail.append(f"stopped after the timeout of {timeout:.0f} s")
    except OSError as exc:
        tail = [str(exc)]
    if row is None:
        say("\n".join(tail))
        row = {"entry": label, "error": (tail[-1] if tail else "no result")[:200]}
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", help="entries (or labels such as pix2pix-facades@b16) to bench")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--steps", type=int, help="steps per round (all entries)")
    p.add_argument("--steps-per-execution", type=int,
                   help="steps per call of our compiled step (default: each entry's, as training uses)")
    p.add_argument("--quick", action="store_true", help="smoke run: few steps, 64 px, synthetic data")
    p.add_argument("--data-dir", help="data folder for every entry (default: ../shared/data/<data set>)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per entry subprocess")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--entry", help=argparse.SUPPRESS)
    p.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--rates", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        row = child(args)
        # the row also goes to the progress stream, so a log of an interrupted run keeps it
        say(f"  [{args.child}] row {json.dumps(row)}")
        print("RESULT " + json.dumps(row), flush=True)
        return 0

    import keras
    import tensorflow as tf

    from pix2gan.precision import unsupported_reason
    started = time.perf_counter()
    say(f"bench/run.py {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} CPU cores, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, GPU: {bool(tf.config.list_physical_devices('GPU'))}")
    seconds = 0.5 if args.quick else 3.0
    rates = {"float32": matmul_rate(tf.float32, seconds=seconds)}
    if unsupported_reason("mixed_bfloat16") is None:
        rates["bfloat16"] = matmul_rate(tf.bfloat16, seconds=seconds)
    say("matmul 2048x2048: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in rates.items()))
    rows = []
    for label, entry, overrides in configs(args.only):
        say(f"{label}: starting ({time.perf_counter() - started:.0f} s into the run)")
        cmd = [sys.executable, os.path.abspath(__file__), "--child", label, "--entry", entry,
               "--overrides", json.dumps(overrides), "--rates", json.dumps(rates)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--steps", str(args.steps)] if args.steps else []
        cmd += ["--steps-per-execution", str(args.steps_per_execution)] if args.steps_per_execution else []
        cmd += ["--data-dir", args.data_dir] if args.data_dir else []
        entry_start = time.perf_counter()
        row = spawn(cmd, args.timeout, label)
        row["entry_s"] = time.perf_counter() - entry_start
        rows.append(row)
        say(f"{label}: done in {row['entry_s']:.0f} s")
        if args.json:  # after every entry, so an interrupted run keeps what it measured
            write_json(args.json, rows, matmul_flops=rates)
    say("")
    say("matmul 2048x2048: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in rates.items()))
    say(table(rows))
    say(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
