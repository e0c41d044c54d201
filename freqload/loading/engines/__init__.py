"""Engines that turn a list of files into batches of int16 samples on the host.

Both run the same native function (``fl_decode_sample``) per image, with the loader's
packed :class:`~freqload.codec.recipe.Recipe`:

- :mod:`freqload.loading.engines.dali_engine`: a DALI pipeline (file reader + the
  ``fn.freqload.jpeg_to_dct`` operator) on DALI's C++ thread pool;
- :mod:`freqload.loading.engines.torch_engine`: torch DataLoader workers calling the
  Python extension.
"""
