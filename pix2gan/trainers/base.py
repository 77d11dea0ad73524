"""Plumbing every GAN trainer shares: named networks with one optimizer each, the loss choice, metric
trackers and an optional moving average of a generator's weights."""
from __future__ import annotations

import math
from collections.abc import Mapping

import keras
import tensorflow as tf

from ..distribute import KerasIssue20585, all_reduce_sum, check_jit, replicas, run_if
from ..errors import Pix2GanError
from ..losses import ADVERSARIAL_LOSSES
from ..optimizers import adam


def default_optimizer() -> keras.optimizers.Optimizer:
    """Adam with learning rate 2e-4 and beta1 0.5 (Radford et al. 2016, pix2pix)."""
    return adam(2e-4, beta_1=0.5)


def check_weight(name: str, value: float, below: float | None = None) -> float:
    """``value`` as a finite float >= 0 (and < ``below`` when given), else :class:`Pix2GanError` naming ``name``."""
    number = float(value)
    if not math.isfinite(number) or number < 0 or (below is not None and number >= below):
        domain = f"in [0, {below:g})" if below is not None else "a finite number >= 0"
        raise Pix2GanError(f"{name}={value!r} is out of its domain: use {domain}", argument=name)
    return number


def check_learning_rate(name: str, optimizer: keras.optimizers.Optimizer) -> None:
    """Refuse an optimizer whose learning rate (a schedule's at step 0) is negative or not finite."""
    # (a schedule's value at the current step; read as a tensor, which a distributed variable also gives)
    value = float(tf.convert_to_tensor(optimizer.learning_rate))
    if not math.isfinite(value) or value < 0:
        raise Pix2GanError(f"the {name} optimizer's learning rate {value} is out of its domain: use a finite "
                           "number >= 0 (2e-4 is typical)", argument="learning_rate")


class FiniteWatch:
    """Records the first update of a step whose loss or gradients were not finite.

    Plain ``tf.Variable`` s held outside Keras's tracking, so they are neither trainer weights nor
    part of a weights file. ``count`` counts skipped updates since :meth:`reset`; ``network`` (index
    into the trainer's networks), ``loss`` and ``kind`` (0: the loss, 1: a gradient) describe the
    first one.
    """

    def __init__(self):
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.network = tf.Variable(-1, dtype=tf.int32, trainable=False)
        self.loss = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.kind = tf.Variable(0, dtype=tf.int32, trainable=False)

    def record(self, index: int, loss, loss_finite, finite) -> None:
        first = tf.logical_and(tf.logical_not(finite), tf.equal(self.count, 0))
        self.network.assign(tf.where(first, tf.constant(index, tf.int32), self.network))
        self.loss.assign(tf.where(first, loss, self.loss))
        self.kind.assign(tf.where(first, tf.where(loss_finite, 1, 0), self.kind))
        self.count.assign_add(tf.cast(tf.logical_not(finite), tf.int64))

    def reset(self) -> None:
        self.count.assign(0)
        self.network.assign(-1)


def check_ema_decay(ema_decay: float) -> float:
    """``ema_decay`` as a float in [0, 1), else :class:`Pix2GanError`."""
    value = float(ema_decay)
    if not 0.0 <= value < 1.0:
        raise Pix2GanError(f"ema_decay {ema_decay} is out of range: use a value in [0, 1) (0 turns the moving "
                           "average off, 0.999 is typical)", argument="ema_decay")
    return value


class WeightAverage:
    """Exponential moving average of ``model``'s weights, kept in ``average``, a clone of ``model``.

    :meth:`update` makes each trainable weight of ``average`` ``d * average + (1 - d) * weight``
    with ``d = min(decay, (1 + t) / (10 + t))`` at update ``t`` (the warm-up of
    ``tf.train.ExponentialMovingAverage``), copies the non-trainable state (BatchNorm moving
    statistics), and counts ``t`` in ``step`` (an int64 ``keras.Variable``). ``average`` is a plain
    ``keras.models.clone_model`` of ``model`` (same layout and weight order), so it saves and loads
    like it. The owner attaches ``average`` and ``step`` as attributes so its weights file holds them.
    """

    def __init__(self, model: keras.Model, decay: float):
        self.decay = check_ema_decay(decay)
        self.model = model
        self.average = keras.models.clone_model(model)
        self.average.set_weights(model.get_weights())
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="ema_step")

    def update(self) -> None:
        """One moving-average update of :attr:`average` towards :attr:`model`'s current weights."""
        t = tf.cast(self.step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + t) / (10.0 + t))
        trainable = {id(v) for v in self.model.trainable_variables}
        # (both models keep the same trainable flags, so .weights list them in the same order)
        for ema, var in zip(self.average.weights, self.model.weights):
            if id(var) in trainable:
                ema.assign(decay * ema + (1.0 - decay) * tf.cast(var, ema.dtype))
            else:
                ema.assign(var)
        self.step.assign_add(1)


class GANTrainer(KerasIssue20585, keras.Model):
    """Base class for GAN trainers driven by ``fit()``.

    The trainer holds named networks, ``networks`` (name -> ``keras.Model``), and after
    :meth:`compile` one optimizer per network, ``optimizers`` (same names), which updates that
    network's ``trainable_variables`` (see :meth:`optimize`). ``generator`` and ``discriminator``
    (constructor arguments) are the networks named ``'generator'`` and ``'discriminator'``; more
    come in ``networks``, as :class:`~pix2gan.trainers.cyclegan.CycleGAN` passes its four
    (``generator_ab``, ``generator_ba``, ``discriminator_a``, ``discriminator_b``).
    The attributes ``generator``, ``discriminator``, ``g_optimizer`` and ``d_optimizer`` read
    those entries.

    Subclasses implement ``train_step`` with ``tf.GradientTape``; ``fit()`` traces it with
    ``tf.function`` (and XLA with ``compile(jit_compile=True)``), and Keras callbacks
    (TensorBoard, the resumable backups of :func:`pix2gan.training.fit_gan`, progress bar) do the
    plumbing. ``save_weights`` (and so every backup) stores every network, every optimizer's state
    (iterations, moments) and the moving average; Keras's own single optimizer is left unset.
    :meth:`optimize` skips (and records) an update whose loss or gradients are not finite. A two-network trainer's file keeps
    the paths of the attributes above (``generator``, ``g_optimizer``, ...), as before the named
    collections, so older checkpoints still load.

    Under a ``tf.distribute`` strategy (build the networks and the trainer, and compile it,
    inside ``strategy.scope()``; see :mod:`pix2gan.distribute`) the updates are those of one
    device on the global batch: :meth:`optimize` scales for the replicas' gradient sum, the
    trackers average the replicas' unscaled values, and :class:`~pix2gan.distribute.KerasIssue20585`
    lets ``fit()`` run under ``MultiWorkerMirroredStrategy``. ``compile(jit_compile=True)`` is
    refused where XLA cannot compile the distributed step (:func:`~pix2gan.distribute.check_jit`).

    ``ema_decay`` > 0 (or :meth:`enable_ema`) keeps ``ema_generator``, an exponential moving
    average of a network's weights (Karras et al. 2018, Yazici et al. 2019; see
    :class:`WeightAverage`); ``train_step`` calls :meth:`update_ema` after the network's step.
    :attr:`inference_generator` is then the average: sample, score and save that one, while the
    raw network keeps training.
    """

    def __init__(self, generator: keras.Model | None = None, discriminator: keras.Model | None = None,
                 adversarial_loss: str = "bce", label_smoothing: float = 0.0, *,
                 networks: Mapping[str, keras.Model] | None = None, ema_decay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise Pix2GanError(f"adversarial_loss {adversarial_loss!r} is not a known loss: use one of "
                               f"{', '.join(ADVERSARIAL_LOSSES)}", argument="adversarial_loss")
        named = {name: net for name, net in (("generator", generator), ("discriminator", discriminator))
                 if net is not None}
        for name, net in (networks or {}).items():
            if name in named:
                raise Pix2GanError(f"networks names {name!r} twice (also a constructor argument)", argument="networks")
            named[name] = net
        if not named:
            raise Pix2GanError("a trainer needs networks: pass generator/discriminator or networks={name: model}",
                               argument="networks")
        self.networks = named
        self.optimizers: dict[str, keras.optimizers.Optimizer] = {}
        self.adversarial_loss = adversarial_loss
        self.label_smoothing = check_weight("label_smoothing", label_smoothing, below=1.0)
        # held in a plain object so Keras does not track (and save) the watch's variables
        self._finite_watch = FiniteWatch()
        self._trackers: dict[str, keras.metrics.Mean] = {}
        self._ema: WeightAverage | None = None
        self._ema_network = "generator"
        self.ema_decay = 0.0
        self.ema_generator = None
        self.enable_ema(ema_decay)
        # The networks arrive built; saying so lets BackupAndRestore load into them before fit().
        self.built = True

    # -- networks and optimizers ------------------------------------------------------------

    def network(self, name: str) -> keras.Model:
        """The network called ``name``; AttributeError naming the networks there are otherwise."""
        if name not in self.networks:
            raise AttributeError(f"{type(self).__name__} has no network {name!r}; it has {', '.join(self.networks)}")
        return self.networks[name]

    def optimizer_for(self, name: str) -> keras.optimizers.Optimizer:
        """The optimizer of network ``name``; AttributeError before :meth:`compile`."""
        self.network(name)
        if name not in self.optimizers:
            raise AttributeError(f"{type(self).__name__} has no optimizer for {name!r} yet: call compile() first")
        return self.optimizers[name]

    @property
    def generator(self) -> keras.Model:
        return self.network("generator")

    @property
    def discriminator(self) -> keras.Model:
        return self.network("discriminator")

    @property
    def g_optimizer(self) -> keras.optimizers.Optimizer:
        return self.optimizer_for("generator")

    @property
    def d_optimizer(self) -> keras.optimizers.Optimizer:
        return self.optimizer_for("discriminator")

    def compile(self, g_optimizer: keras.optimizers.Optimizer | None = None,
                d_optimizer: keras.optimizers.Optimizer | None = None, jit_compile: bool = False, *,
                optimizers: Mapping[str, keras.optimizers.Optimizer | str] | None = None, **kwargs):
        """Give every network its optimizer and build them all now.

        ``optimizers`` maps network names to optimizers (instances, or names Keras knows such as
        ``'adam'``); ``g_optimizer`` / ``d_optimizer`` are the ones of ``'generator'`` /
        ``'discriminator'``. A network given none gets :func:`default_optimizer`. Other keyword
        arguments (``steps_per_execution``, ``run_eagerly``, ...) go to ``keras.Model.compile``.

        Compiled under the ``mixed_float16`` dtype policy (see :mod:`pix2gan.precision`), every
        optimizer is wrapped in ``keras.optimizers.LossScaleOptimizer``.

        Building before the first traced step matters: optimizer variables created inside a
        later ``tf.function`` call fail, and BackupAndRestore needs them to load into.
        """
        if kwargs.get("optimizer") is not None:
            raise Pix2GanError("optimizer= is Keras's single optimizer: give a GAN trainer optimizers={network: "
                               f"optimizer}} with network names from {', '.join(self.networks)}", argument="optimizer")
        kwargs.pop("optimizer", None)
        chosen = dict(optimizers or {})
        for name, given in (("generator", g_optimizer), ("discriminator", d_optimizer)):
            if given is None:
                continue
            if name not in self.networks or name in chosen:
                raise Pix2GanError(f"{name[0]}_optimizer needs exactly one optimizer for a network {name!r}: "
                                   f"networks are {', '.join(self.networks)}", argument=f"{name[0]}_optimizer")
            chosen[name] = given
        unknown = sorted(set(chosen) - set(self.networks))
        if unknown:
            raise Pix2GanError(f"optimizers names unknown networks {', '.join(map(repr, unknown))}: use names from "
                               f"{', '.join(self.networks)}", argument="optimizers")
        built = {name: keras.optimizers.get(chosen.get(name)) or default_optimizer() for name in self.networks}
        if len({id(opt) for opt in built.values()}) < len(built):
            raise Pix2GanError("optimizers shares one optimizer between networks: give each network its own",
                               argument="optimizers")
        if keras.config.dtype_policy().name == "mixed_float16":
            # float16 gradients underflow without loss scaling; each network gets its own dynamic scale
            built = {name: opt if isinstance(opt, keras.optimizers.LossScaleOptimizer)
                     else keras.optimizers.LossScaleOptimizer(opt) for name, opt in built.items()}
        # optimizer=None: Keras would otherwise create its default RMSprop, an unused optimizer that
        # is saved with the weights and warned about on every resume.
        for name, opt in built.items():
            check_learning_rate(name, opt)
        check_jit(jit_compile, self.distribute_strategy)
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        for name, opt in built.items():
            opt.build(self.networks[name].trainable_variables)
        self.optimizers = built
        for name in self.log_names():
            self.tracker(name)

    @staticmethod
    def apply_gradients(optimizer, tape: tf.GradientTape, loss, variables) -> None:
        """Differentiate ``loss`` with respect to ``variables`` and take one optimizer step."""
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)

    def optimize(self, name: str | tuple[str, ...], tape: tf.GradientTape, loss) -> None:
        """One step of network ``name``'s optimizer on the gradient of ``loss`` (recorded by ``tape``)
        with respect to that network's trainable variables. A tuple of names steps each of those
        networks' optimizers on one gradient computation (one backward pass for a loss that two
        networks share, like CycleGAN's generators).

        ``loss`` is a mean over this replica's share of the batch. Under a ``tf.distribute``
        strategy with R replicas Keras sums the replicas' gradients, so the gradient taken is that
        of ``loss / R``: the global-batch mean, as on one device (the caller logs ``loss``
        unscaled). A ``LossScaleOptimizer``'s scale multiplies the loss for the backward pass.

        A non-finite loss or gradient skips the update (the weights and optimizer state stay as
        they were) and is recorded in :meth:`nonfinite_update`, which the training loop checks
        after every step to stop or roll back the run; the check is summed over the replicas, so
        all of them skip together. A ``LossScaleOptimizer`` skips overflowing steps itself, so
        only its loss is checked.
        """
        names = (name,) if isinstance(name, str) else tuple(name)
        groups = [list(self.networks[n].trainable_variables) for n in names]
        optimizers = [self.optimizers[n] for n in names]
        scales = [opt.dynamic_scale if isinstance(opt, keras.optimizers.LossScaleOptimizer) else None
                  for opt in optimizers]
        count = replicas()
        # The gradient of loss * factor, factor = (loss scale) / replicas, without touching the
        # taped loss: Keras sums the replicas' gradients, and a loss scale must act before the
        # backward pass. On one device without loss scaling nothing changes.
        factor = None if count == 1 else tf.constant(1.0 / count, tf.float32)
        if scales[0] is not None:
            factor = tf.cast(scales[0], tf.float32) * (1.0 if factor is None else factor)
        grads = tape.gradient(loss, [v for group in groups for v in group],
                              output_gradients=None if factor is None else tf.cast(factor, loss.dtype))
        if any(scale is not None for scale in scales[1:]) or (scales[0] is not None and len(names) > 1):
            grads = self._rescale(grads, groups, scales)
        value = tf.reduce_mean(tf.cast(loss, tf.float32))
        # one fused sum per tensor: any NaN or inf in a gradient makes the total non-finite; summed
        # over the replicas too, so that every replica takes the same branch below
        sums = [tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads if g is not None]
        checks = all_reduce_sum(tf.stack([value, tf.add_n(sums) if sums else tf.constant(0.0)]))
        loss_finite = tf.math.is_finite(checks[0])
        if any(scale is not None for scale in scales):
            # a LossScaleOptimizer skips (and rescales after) an overflowing step itself, so only
            # the loss is checked; a non-finite gradient on any replica is made one on all, since
            # the optimizer checks the first replica's gradients only
            finite = loss_finite
            if count > 1:
                grads = [None if g is None else g + tf.cast(0.0 * checks[1], g.dtype) for g in grads]
        else:
            finite = tf.logical_and(loss_finite, tf.math.is_finite(checks[1]))
        self._finite_watch.record(list(self.networks).index(names[0]), value, loss_finite, finite)

        def apply(grads):
            start = 0
            for opt, group in zip(optimizers, groups):
                opt.apply(grads[start:start + len(group)], group)
                start += len(group)
        run_if(finite, apply, grads)

    @staticmethod
    def _rescale(grads, groups, scales):
        """Gradients taken with the first network's loss scale, rescaled to each network's own."""
        first = 1.0 if scales[0] is None else tf.cast(scales[0], tf.float32)
        out, start = [], 0
        for group, scale in zip(groups, scales):
            ratio = (1.0 if scale is None else tf.cast(scale, tf.float32)) / first
            out += [None if g is None else g * tf.cast(ratio, g.dtype) for g in grads[start:start + len(group)]]
            start += len(group)
        return out

    def nonfinite_update(self) -> dict | None:
        """None while every update since :meth:`reset_nonfinite` was finite; else the first bad one:
        ``{'network': name, 'loss': value, 'kind': 'loss' or 'gradient', 'count': skipped updates}``."""
        watch = self._finite_watch
        count = int(watch.count.numpy())
        if not count:
            return None
        index = int(watch.network.numpy())
        return {"network": list(self.networks)[index] if 0 <= index < len(self.networks) else "?",
                "loss": float(watch.loss.numpy()), "kind": "gradient" if int(watch.kind.numpy()) else "loss",
                "count": count}

    def reset_nonfinite(self) -> None:
        """Forget recorded non-finite updates (after a rollback)."""
        self._finite_watch.reset()

    # -- moving average of a generator --------------------------------------------------------

    def enable_ema(self, ema_decay: float, network: str = "generator") -> None:
        """Keep ``ema_generator``, a moving average of network ``network``'s weights (0: off).

        Also sets ``ema_step`` (its update count); both are trainer weights, so
        ``save_weights`` / BackupAndRestore resume them. Call it at most once, before
        :meth:`compile`.
        """
        decay = check_ema_decay(ema_decay)
        if not decay:
            return
        if self._ema is not None:
            raise Pix2GanError(f"ema_decay is already {self.ema_decay}: enable the moving average once",
                               argument="ema_decay")
        self._ema = WeightAverage(self.network(network), decay)
        self._ema_network = network
        self.ema_decay = decay
        self.ema_generator = self._ema.average
        self.ema_step = self._ema.step

    @property
    def inference_generator(self) -> keras.Model:
        """The generator to sample, score and save: ``ema_generator`` when the average is kept, else
        the network it would average (``generator`` by default)."""
        return self._ema.average if self._ema is not None else self.network(self._ema_network)

    def update_ema(self) -> None:
        """One moving-average update of ``ema_generator`` (no-op without ``ema_decay``)."""
        if self._ema is not None:
            self._ema.update()

    # -- metrics ------------------------------------------------------------------------------

    def log_names(self) -> tuple[str, ...]:
        """The names ``train_step`` logs, whose trackers :meth:`compile` creates up front.

        A tracker first made inside the traced step creates variables there, which makes
        ``tf.function`` trace the whole step a second time; a name left out still works, at that
        cost."""
        return ()

    def tracker(self, name: str) -> keras.metrics.Mean:
        """A running mean reported under ``name`` in the progress bar and TensorBoard."""
        if name not in self._trackers:
            context = tf.distribute.get_replica_context()
            if context is not None and tf.distribute.has_strategy():
                # first met inside a distributed step: its variables are made once, from the
                # cross-replica context (made in a replica, they fail the step's graph)
                def make(_):
                    with tf.init_scope():
                        self._trackers.setdefault(name, keras.metrics.Mean(name=name))
                context.merge_call(make)
            else:
                self._trackers[name] = keras.metrics.Mean(name=name)
        return self._trackers[name]

    def track(self, values: dict) -> dict:
        """Update the trackers named by ``values`` and return their running means."""
        for name, value in values.items():
            self.tracker(name).update_state(value)
        return self.log_values({name: self.tracker(name).result() for name in values})

    @property
    def metrics(self):
        return list(self._trackers.values())

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)
