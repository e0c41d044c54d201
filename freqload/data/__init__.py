"""The data layer: where samples come from, and the files that describe them.

==================  ================================================================
module              what it does
==================  ================================================================
``sources``         a loader's ``source`` -> samples: folders, lists, ``.txt`` lists,
                    tar shards; :class:`Source` with the options of reading them
``labels``          the one check of a label (an int64 class index)
``shards``          tar shards as samples: each image a byte range of its shard;
                    index files tied to the shard's content
``tar_headers``     a bounded reader of tar headers (never a loop)
``remote``          ``s3://`` and ``http(s)://`` shards, downloaded and checked
``packs``           the manifest of a ``freqload pack`` copy (which bands it kept)
``destination``     how the writers put files: apart from their sources, atomically,
                    never over a file they did not make
==================  ================================================================

This layer imports the codec layer and the base modules; the loaders, models and tools
import it. What is checked and what a user sees when a check fails: the docs' integrity
page.
"""
from .labels import check_label
from .shards import ShardSet, index_shard, index_shards, write_index
from .sources import SampleList, Source, resolve_source

__all__ = ["Source", "SampleList", "ShardSet", "check_label", "index_shard", "index_shards",
           "resolve_source", "write_index"]
