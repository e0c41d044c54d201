"""Engines that turn a list of files into batches of int16 samples on the host.

Both run the core's batch entry point (``fl_decode_items``) per image, with the loader's
packed :class:`~freqload.codec.recipe.Recipe`, and finish their batches the same way
(:mod:`.slots`):

- :mod:`freqload.loading.engines.native_engine`: the core's own thread pool (``fl_pool``),
  whole batches into the batch's buffer, driven from the consuming thread;
- :mod:`freqload.loading.engines.dali_engine`: a DALI pipeline (the
  ``fn.freqload.jpeg_to_dct`` operator reading the files) on DALI's C++ thread pool.
"""
