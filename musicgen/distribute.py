"""Training on several devices or hosts with TensorFlow's own engine (`tf.distribute`).

`--distribute mirrored` runs one replica per local device (every GPU, or the CPU split into
`--cpu-devices` logical devices); `--distribute multi-worker` runs one process per host, the
cluster read from the standard `TF_CONFIG`. Either way each step's global batch is the
per-replica batch times the replicas, gradients are summed across replicas, and every replica
applies the same update, so a run matches one process on the same global batch up to the order
of floating-point sums.

Keras 3 needs help for that, and the help reaches into its private code, so it lives here
and nowhere else, and refuses Keras versions it was not checked on (`SUPPORTED_KERAS`):

* `fit` fails with two workers (keras-team/keras#20585): the symbolic build reduces a
  per-replica batch with `strategy.reduce`, and the metrics of each step are reduced over an
  axis 0 that scalars do not have. Both hooks of `backend/tensorflow/trainer.py` are wrapped
  (the first also for `mirrored`: its extra pass over the data shifts re-randomised crops).
* `clipnorm` clips each replica's own gradient before the all-reduce, so clipping would
  depend on the number of replicas; `optimizer()` makes it clip the all-reduced gradient.
* A loss function that returns a scalar is not divided by the replicas (`replica_share()`),
  and `add_loss` values are shared by MirroredStrategy's replica threads
  (`ReplicaLocalLosses`): both would count the codec's losses `replicas` times.

The codec's ResidualVQ uses `replica_context()` to reduce its EMA statistics, and its loss
`global_mean()` and `replica_share()`; training uses the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from musicgen.errors import InputError

KINDS = ("none", "mirrored", "multi-worker")
# Checked on 3.15.1 (tests/test_distribute.py); the private code patched below moves between
# minor versions, so a new minor must be checked and added here and in requirements.txt.
SUPPORTED_KERAS = ((3, 15, 1), (3, 16, 0))  # [lowest, first unsupported)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in text.split(".")[:3])


def check_keras(version: str | None = None) -> None:
    """Refuse a Keras whose private trainer code was not checked with these overrides."""
    version = version or keras.__version__
    low, high = SUPPORTED_KERAS
    if not low <= _version(version) < high:
        raise InputError(
            f"--distribute needs Keras >={'.'.join(map(str, low))},<{'.'.join(map(str, high))} "
            f"(its multi-worker workaround was checked on those versions only); installed: "
            f"{version}. Install a supported Keras or train with --distribute none.")


def make_strategy(kind: str, cpu_devices: int | None = None) -> tf.distribute.Strategy | None:
    """The strategy for `--distribute`; None for "none" (today's single-process path).

    Must run before TensorFlow initialises its devices (before any other TF op).
    """
    if kind not in KINDS:
        raise InputError(f"--distribute must be one of {KINDS}, got {kind!r}")
    if kind == "none":
        return None
    check_keras()
    _patch_keras_trainer()
    if kind == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()  # every local GPU
        if cpu_devices and cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            try:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
            except RuntimeError as error:  # TF already initialised in this process
                raise InputError(f"cannot split the CPU into {cpu_devices} devices: {error}") \
                    from error
        return tf.distribute.MirroredStrategy(
            [d.name for d in tf.config.list_logical_devices("CPU")])
    if "TF_CONFIG" not in os.environ:
        raise InputError("--distribute multi-worker reads the cluster from the TF_CONFIG "
                         "environment variable, which is not set (see README, 'Training on "
                         "several hosts')")
    return tf.distribute.MultiWorkerMirroredStrategy()


@dataclass(frozen=True)
class Role:
    """This process's part: the chief writes checkpoints; `name` keeps workers' files apart."""

    chief: bool = True
    name: str = "chief"
    replicas: int = 1


def role(strategy: tf.distribute.Strategy | None) -> Role:
    if strategy is None:
        return Role()
    resolver = getattr(strategy, "cluster_resolver", None)
    chief = bool(strategy.extended.should_checkpoint)
    name = "chief" if chief or resolver is None or resolver.task_type is None \
        else f"{resolver.task_type}-{resolver.task_id}"
    return Role(chief, name, strategy.num_replicas_in_sync)


def scope(strategy: tf.distribute.Strategy | None):
    """Build and compile models in here, so their variables are mirrored on every replica."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def global_batch(per_replica: int, strategy: tf.distribute.Strategy | None) -> int:
    return per_replica * (strategy.num_replicas_in_sync if strategy is not None else 1)


@contextlib.contextmanager
def output_root(out: Path, chief: bool) -> Iterator[Path]:
    """Where checkpoints go: `out` on the chief; elsewhere a temporary folder, removed after.

    Workers still save (their codec is what they encode the prior's data with), but only the
    chief's copy is kept.
    """
    if chief:
        yield out
        return
    root = tempfile.mkdtemp(prefix="musicgen-worker-")
    try:
        yield Path(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def replica_context() -> tf.distribute.ReplicaContext | None:
    """The replica context when several replicas train in sync (inside `fit`), else None."""
    context = tf.distribute.get_replica_context()
    if context is None or not tf.distribute.has_strategy() or context.num_replicas_in_sync < 2:
        return None
    return context


def global_mean(x):
    """Mean over the global batch: per-replica sums and counts are all-reduced."""
    context = replica_context()
    if context is None:
        return keras.ops.mean(x)
    total, count = context.all_reduce(
        "SUM", [keras.ops.sum(x), keras.ops.cast(keras.ops.size(x), x.dtype)])
    return total / keras.ops.maximum(count, 1.0)


def replica_share(loss):
    """A batch-mean loss scaled to this replica's share of the global mean.

    Keras divides a loss by the number of replicas (so that the summed gradients are a mean)
    only when the loss function returns per-sample values; a function returning one scalar
    would otherwise count `replicas` times over.
    """
    context = replica_context()
    return loss if context is None else loss / context.num_replicas_in_sync


def for_replicas(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy | None,
                 batch: int | None = None) -> tf.data.Dataset:
    """Shard by element: each worker reads everything and keeps its share of each batch.

    With the global `batch` of a finite, unbatched set, a final batch smaller than the
    replicas (which would leave a replica empty-handed, and its batch-mean loss NaN) is dropped.
    """
    if strategy is None:
        return dataset
    if batch is not None:
        count = int(dataset.cardinality())
        if count % batch < strategy.num_replicas_in_sync:
            count -= count % batch
            if count == 0:
                raise InputError(f"the held-out set has {int(dataset.cardinality())} windows: "
                                 f"fewer than the {strategy.num_replicas_in_sync} replicas, "
                                 "which need one each; hold out more audio")
            dataset = dataset.take(count)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def agree(strategy: tf.distribute.Strategy | None, value: float, op: str = "max") -> float:
    """The "max" or "min" of every replica's `value` (e.g. stop if any worker must stop).

    A collective: every worker must call it at the same point.
    """
    value = float(value)
    if strategy is None or strategy.num_replicas_in_sync < 2:
        return value
    reduce = {"max": tf.reduce_max, "min": tf.reduce_min}[op]

    @tf.function
    def gather(x):
        # tf.identity puts the value on the replica's device: a collective needs one
        return strategy.run(
            lambda v: tf.distribute.get_replica_context().all_gather(tf.identity(v), axis=0),
            args=(x,))

    values = strategy.experimental_local_results(gather(tf.constant([value], tf.float32)))[0]
    return float(reduce(values))


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of every weight: equal on all workers when they stayed in sync."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(array.tobytes())
    return digest.hexdigest()


def replicas_identical(model: keras.Model) -> bool:
    """Whether this process's replicas (e.g. one per GPU) hold identical copies of every weight."""
    strategy = model.distribute_strategy
    for weight in model.weights:
        copies = [c.numpy() for c in strategy.experimental_local_results(weight.value)]
        if any(c.tobytes() != copies[0].tobytes() for c in copies[1:]):
            return False
    return True


# --- Keras private-code overrides ---------------------------------------------------------

class _ClipAfterAllReduce:
    """Clip the all-reduced gradient (Keras clips each replica's share, before its all-reduce).

    `_clip_gradients` sums the gradients across replicas first and `_all_reduce_sum_gradients`,
    which `TFOptimizer` calls after clipping, then has nothing left to do.
    """

    def _clip_gradients(self, grads):
        context = replica_context()
        if context is not None:
            present = [g for g in grads if g is not None]
            summed = iter(context.all_reduce("SUM", present))
            grads = [None if g is None else next(summed) for g in grads]
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if replica_context() is not None:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


class ReplicaLocalLosses:
    """A layer mixin: `add_replica_loss` counts the loss once per replica.

    MirroredStrategy runs its replicas as threads through one Layer object, and Keras keeps
    `add_loss` values in one list per layer: once the replicas meet in an all-reduce inside
    `call`, each would read (and sum) every replica's loss, and one replica entering `call` clears
    the losses another has already added. Under a strategy these losses are kept per thread.
    """

    def add_replica_loss(self, loss) -> None:
        if replica_context() is None:
            self.add_loss(loss)
        else:
            self._replica_losses(create=True).append(loss)

    def _replica_losses(self, create: bool = False) -> list:
        # made on first use under a strategy only: without one the layer is left as it was
        local = self.__dict__.get("_musicgen_thread_losses")
        if local is None and create:
            local = self.__dict__["_musicgen_thread_losses"] = threading.local()
        if local is not None and not hasattr(local, "losses"):
            local.losses = []
        return local.losses if local is not None else []

    def _get_own_losses(self):
        losses = super()._get_own_losses()
        return losses + self._replica_losses() if replica_context() is not None else losses

    def _clear_losses(self):
        self._replica_losses().clear()
        super()._clear_losses()


def optimizer(opt: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """`opt` itself without a strategy; under one (call in its scope), the same optimizer
    clipping the all-reduced gradient."""
    if not tf.distribute.has_strategy():
        return opt
    cls = type(f"AllReduced{type(opt).__name__}", (_ClipAfterAllReduce, type(opt)), {})
    return cls.from_config(opt.get_config())


def _patch_keras_trainer() -> None:
    """Wrap two hooks of Keras's TF trainer (process-wide; unchanged without a strategy)."""
    from keras.src.backend.tensorflow import trainer as module

    if getattr(module, "_musicgen_patched", False):
        return
    build, reduce = module.TensorFlowTrainer._maybe_symbolic_build, module.reduce_per_replica

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras draws a first batch and takes its strategy.reduce("MEAN") only to learn the
        # input shapes. With several workers that reduce fails on a PerReplica; with any
        # strategy the extra pass starts a new iteration of the dataset, so one that is
        # re-randomised each iteration (ours) would train on other crops than one process.
        # The dataset's element spec gives the shapes without a pass.
        if iterator is not None and self._distribute_strategy is not None:
            spec = iterator.data_adapter.get_tf_dataset().element_spec
            data_batch = tf.nest.map_structure(
                lambda s: tf.TensorSpec([None, *s.shape[1:]], s.dtype), spec)
            iterator = None
        return build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        # Multi-worker "mean" reduces over axis 0, which the step's scalar metrics lack.
        # Average across replicas element-wise instead, as the single-worker branch does.
        if reduction in ("auto", "mean") and module._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce(values, strategy, reduction)

    module.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    module.reduce_per_replica = reduce_per_replica
    module._musicgen_patched = True
