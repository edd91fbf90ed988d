"""Plain custom-`train_step` Keras VAE, DCGAN and WGAN-GP, keras-io style.

What users copy from the keras-io examples ("Variational AutoEncoder", "DCGAN
overriding train_step", "WGAN-GP overriding train_step") and the guides
"Customizing what happens in fit()" for TensorFlow, PyTorch and JAX: a
`keras.Model` subclass whose `train_step` computes the loss and the gradients
with the backend's own autodiff (`tf.GradientTape`, `loss.backward()`,
`jax.value_and_grad` over `stateless_call`). The GANs on JAX are the guide
"Writing a training loop from scratch in JAX": one `jax.jit`-ed step over
explicit state (Keras' JAX `fit` carries one optimizer's variables; a GAN has two).

The math is lrep_zoo's (`lrep_zoo.models.vae.VAE`, `lrep_zoo.models.gan.GAN`):
Bernoulli VAE loss `sum(softplus(l) - x l) + KL` per image; non-saturating GAN
(`softplus(-D(x)) + softplus(D(G(z)))`, generator `softplus(-D(G(z)))`); WGAN-GP
critic `D(G(z)) - D(x) + w (||grad D(x_hat)|| - 1)^2`, `n_critic` critic updates
per batch on the same real batch and fresh noise. `peers.py` builds both sides on
the same networks (a weight copy) and feeds the same batches.

    vae = VAE(encoder, decoder); vae.compile(optimizer="adam"); vae.fit(x, batch_size=64)
    gan = GAN(discriminator, generator, latent_dim=64, objective="wgan_gp", n_critic=5)
    gan.compile(keras.optimizers.Adam(2e-4, 0.5, 0.9), keras.optimizers.Adam(2e-4, 0.5, 0.9))
    gan.fit(x, batch_size=64)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()


# ----------------------------------------------------------------------------- VAE
class VAE(keras.Model):
    """keras-io's VAE: encoder -> (mean, log_var) -> z -> decoder logits."""

    def __init__(self, encoder, decoder, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, x, training=False):
        mean, log_var = self.encoder(x, training=training)
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        z = mean + ops.exp(0.5 * log_var) * eps
        return self.decoder(z, training=training), mean, log_var

    def losses_of(self, x, logits, mean, log_var):
        x = ops.cast(x, "float32")
        reconstruction = ops.mean(ops.sum(ops.softplus(logits) - x * logits, axis=(1, 2, 3)))
        kl = -0.5 * (1.0 + log_var - ops.square(mean) - ops.exp(log_var))
        kl = ops.mean(ops.sum(kl, axis=1))
        return reconstruction + kl, reconstruction, kl

    def _log(self, total, reconstruction, kl):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    if BACKEND == "tensorflow":

        def train_step(self, data):
            import tensorflow as tf

            with tf.GradientTape() as tape:
                logits, mean, log_var = self(data, training=True)
                total, reconstruction, kl = self.losses_of(data, logits, mean, log_var)
            grads = tape.gradient(total, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return self._log(total, reconstruction, kl)

    elif BACKEND == "torch":

        def train_step(self, data):
            import torch

            self.zero_grad()
            logits, mean, log_var = self(data, training=True)
            total, reconstruction, kl = self.losses_of(data, logits, mean, log_var)
            total.backward()
            weights = self.trainable_weights
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            return self._log(total.detach(), reconstruction.detach(), kl.detach())

    elif BACKEND == "jax":

        def train_step(self, state, data):
            import jax

            trainable, non_trainable, optimizer_vars, metrics_vars = state

            def loss_fn(trainable, non_trainable, x):
                (logits, mean, log_var), non_trainable = self.stateless_call(
                    trainable, non_trainable, x, training=True
                )
                total, reconstruction, kl = self.losses_of(x, logits, mean, log_var)
                return total, (reconstruction, kl, non_trainable)

            (total, (reconstruction, kl, non_trainable)), grads = jax.value_and_grad(
                loss_fn, has_aux=True
            )(trainable, non_trainable, data)
            trainable, optimizer_vars = self.optimizer.stateless_apply(
                optimizer_vars, grads, trainable
            )
            logs, new_metrics_vars = {}, []
            for metric, value in zip(self.metrics, (total, reconstruction, kl)):
                start = len(new_metrics_vars)
                these = metrics_vars[start:start + len(metric.variables)]
                these = metric.stateless_update_state(these, value)
                logs[metric.name] = metric.stateless_result(these)
                new_metrics_vars += these
            return logs, (trainable, non_trainable, optimizer_vars, new_metrics_vars)


# ----------------------------------------------------------------------------- GANs
OBJECTIVES = ("non_saturating", "wgan_gp")


def discriminator_loss(real_logits, fake_logits, objective):
    if objective == "wgan_gp":
        return ops.mean(fake_logits) - ops.mean(real_logits)
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits, objective):
    if objective == "wgan_gp":
        return -ops.mean(fake_logits)
    return ops.mean(ops.softplus(-fake_logits))


def gradient_penalty(grads):
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)
    return ops.mean(ops.square(norm - 1.0))


class GAN(keras.Model):
    """keras-io's DCGAN / WGAN-GP: `compile(d_optimizer, g_optimizer)`, `fit(images)`."""

    def __init__(self, discriminator, generator, latent_dim, objective="non_saturating",
                 n_critic=1, gp_weight=10.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}.")
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = int(latent_dim)
        self.objective = objective
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True  # the networks are built; `call` is not the training path

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        if BACKEND != "jax":
            self.d_optimizer.build(self.discriminator.trainable_weights)
            self.g_optimizer.build(self.generator.trainable_weights)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _noise(self, n):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def _interpolates(self, real, fake):
        eps = keras.random.uniform((ops.shape(real)[0], 1, 1, 1), seed=self.seed_generator)
        return eps * real + (1.0 - eps) * fake

    if BACKEND == "tensorflow":

        def train_step(self, real):
            import tensorflow as tf

            n = tf.shape(real)[0]
            for _ in range(self.n_critic):
                fake = self.generator(self._noise(n), training=True)
                with tf.GradientTape() as tape:
                    real_logits = self.discriminator(real, training=True)
                    fake_logits = self.discriminator(fake, training=True)
                    d_loss = discriminator_loss(real_logits, fake_logits, self.objective)
                    if self.objective == "wgan_gp":
                        mix = self._interpolates(real, fake)
                        with tf.GradientTape() as gp_tape:
                            gp_tape.watch(mix)
                            mix_logits = self.discriminator(mix, training=True)
                        grads = gp_tape.gradient(mix_logits, mix)
                        d_loss = d_loss + self.gp_weight * gradient_penalty(grads)
                grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
                self.d_optimizer.apply_gradients(
                    zip(grads, self.discriminator.trainable_weights)
                )
            with tf.GradientTape() as tape:
                fake_logits = self.discriminator(
                    self.generator(self._noise(n), training=True), training=True
                )
                g_loss = generator_loss(fake_logits, self.objective)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {m.name: m.result() for m in self.metrics}

    elif BACKEND == "torch":

        def train_step(self, real):
            import torch

            n = real.shape[0]
            d_weights = self.discriminator.trainable_weights
            g_weights = self.generator.trainable_weights
            for _ in range(self.n_critic):
                with torch.no_grad():
                    fake = self.generator(self._noise(n), training=True)
                self.zero_grad()
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = discriminator_loss(real_logits, fake_logits, self.objective)
                if self.objective == "wgan_gp":
                    mix = self._interpolates(real, fake).detach().requires_grad_(True)
                    mix_logits = self.discriminator(mix, training=True)
                    (grads,) = torch.autograd.grad(mix_logits.sum(), mix, create_graph=True)
                    d_loss = d_loss + self.gp_weight * gradient_penalty(grads)
                d_loss.backward()
                with torch.no_grad():
                    self.d_optimizer.apply([v.value.grad for v in d_weights], d_weights)
            self.zero_grad()
            fake_logits = self.discriminator(
                self.generator(self._noise(n), training=True), training=True
            )
            g_loss = generator_loss(fake_logits, self.objective)
            g_loss.backward()
            with torch.no_grad():
                self.g_optimizer.apply([v.value.grad for v in g_weights], g_weights)
            self.d_loss_tracker.update_state(d_loss.detach())
            self.g_loss_tracker.update_state(g_loss.detach())
            return {m.name: m.result() for m in self.metrics}

    elif BACKEND == "jax":

        def fit(self, x, batch_size=64, epochs=1, verbose=0, shuffle=False, **kwargs):
            """The loop of keras-io's "training loop from scratch in JAX" (no shuffle)."""
            state = getattr(self, "_jax_state", None)
            if state is None:
                state = self._jax_init()
            step = getattr(self, "_jax_step", None)
            if step is None:
                import jax

                step = self._jax_step = jax.jit(self._jax_train_step)
            for _ in range(epochs):
                for start in range(0, len(x) - batch_size + 1, batch_size):
                    state, logs = step(state, x[start:start + batch_size])
            logs = {k: float(v) for k, v in logs.items()}
            # Not `self._jax_state = state`: Keras' attribute tracking would turn the
            # lists into TrackedLists, which jax.jit does not take as arrays.
            object.__setattr__(self, "_jax_state", state)
            self._jax_write_back(state)
            return logs

        def _jax_init(self):
            import jax

            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)
            values = lambda vs: [v.value for v in vs]  # noqa: E731
            return (
                values(self.discriminator.trainable_variables),
                values(self.discriminator.non_trainable_variables),
                values(self.generator.trainable_variables),
                values(self.generator.non_trainable_variables),
                values(self.d_optimizer.variables),
                values(self.g_optimizer.variables),
                jax.random.key_data(jax.random.PRNGKey(self.seed or 0)),
            )

        def _jax_write_back(self, state):
            d_tr, d_nt, g_tr, g_nt, d_opt, g_opt, _ = state
            pairs = [
                (self.discriminator.trainable_variables, d_tr),
                (self.discriminator.non_trainable_variables, d_nt),
                (self.generator.trainable_variables, g_tr),
                (self.generator.non_trainable_variables, g_nt),
                (self.d_optimizer.variables, d_opt),
                (self.g_optimizer.variables, g_opt),
            ]
            for variables, values in pairs:
                for v, value in zip(variables, values):
                    v.assign(value)

        def _jax_train_step(self, state, real):
            import jax

            d_tr, d_nt, g_tr, g_nt, d_opt, g_opt, key = state
            key = jax.random.wrap_key_data(key)
            n = real.shape[0]

            def d_loss_fn(d_tr, d_nt, fake, mix):
                real_logits, d_nt = self.discriminator.stateless_call(
                    d_tr, d_nt, real, training=True)
                fake_logits, d_nt = self.discriminator.stateless_call(
                    d_tr, d_nt, fake, training=True)
                loss = discriminator_loss(real_logits, fake_logits, self.objective)
                if self.objective == "wgan_gp":
                    def critic_sum(m):
                        return ops.sum(self.discriminator.stateless_call(
                            d_tr, d_nt, m, training=True)[0])
                    loss = loss + self.gp_weight * gradient_penalty(jax.grad(critic_sum)(mix))
                return loss, d_nt

            for _ in range(self.n_critic):
                key, k_z, k_eps = jax.random.split(key, 3)
                z = jax.random.normal(k_z, (n, self.latent_dim))
                fake, g_nt = self.generator.stateless_call(g_tr, g_nt, z, training=True)
                eps = jax.random.uniform(k_eps, (n, 1, 1, 1))
                mix = eps * real + (1.0 - eps) * fake
                (d_loss, d_nt), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
                    d_tr, d_nt, fake, mix)
                d_tr, d_opt = self.d_optimizer.stateless_apply(d_opt, grads, d_tr)

            def g_loss_fn(g_tr, g_nt, z):
                fake, g_nt = self.generator.stateless_call(g_tr, g_nt, z, training=True)
                logits, _ = self.discriminator.stateless_call(d_tr, d_nt, fake, training=True)
                return generator_loss(logits, self.objective), g_nt

            key, k_z = jax.random.split(key)
            z = jax.random.normal(k_z, (n, self.latent_dim))
            (g_loss, g_nt), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g_tr, g_nt, z)
            g_tr, g_opt = self.g_optimizer.stateless_apply(g_opt, grads, g_tr)
            state = (d_tr, d_nt, g_tr, g_nt, d_opt, g_opt, jax.random.key_data(key))
            return state, {"d_loss": d_loss, "g_loss": g_loss}


def copy_of(network: keras.Model) -> keras.Model:
    """A copy of a functional network with the same weights (the reference's own nets)."""
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    return copy


def images(n: int, shape=(28, 28, 1), seed: int = 0) -> np.ndarray:
    """`n` float32 images in [0, 1] (uniform noise: timing does not depend on content)."""
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype("float32")
