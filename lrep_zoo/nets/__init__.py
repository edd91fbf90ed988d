"""Network builders: functional `keras.Model` factories, each shape in one place."""
