"""The applications, apart from the library: nothing in freqload's other layers imports
them.

==============  ==================================================================
module          what it is
==============  ==================================================================
``cli``         the ``freqload`` command line (parsing, checks before work, exits)
``bench``       ``freqload bench``: loader pipelines against DALI's and Pillow's
``compare``     ``freqload compare``: DCT vs RGB training at equal input bytes
``pack``        ``freqload pack`` / ``unpack``: a copy keeping a mask's bands
``shards``      ``freqload shards``: a data set written as tar shards
``jobs``        what the long writers share: worker processes, interruptions
``inspect``     ``freqload inspect``: what a JPEG is and what the loader will do
``show``        ``freqload show``: the 192 channels of one picture, drawn
``pictures``    the renderers (matplotlib or Pillow) and the gate heatmap
``synthetic``   generated data sets (the benchmark's default, class folders)
``cpu_time``    CPU seconds of a process and its children
==============  ==================================================================
"""
