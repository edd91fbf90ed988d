"""Reference implementations that `benchmarks/peers.py` times lrep_zoo against.

- `keras_io`: plain custom-`train_step` Keras models in the style of the keras-io
  examples (VAE, DCGAN, WGAN-GP), one `train_step` per backend.
- `torch_hybridnet`: a plain PyTorch HybridNet training step (ConvLarge nets, both
  branches, branch balancing, intermediate reconstructions, Mean Teacher).
- `keras_bn`: lrep_zoo's HybridNet built on Keras' own BatchNormalization (the model
  before `lrep_zoo.layers.BatchNormalization`), for `peers.py --models hybridnet_bn`.

These are benchmark code, not library code: they import tensorflow / jax / torch.
"""
