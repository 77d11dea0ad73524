"""Data loaders (tf.data pipelines) and the built-in synthetic sets."""
