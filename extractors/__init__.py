"""Getting bytes and rows out of facility systems.

One sub-package per source kind (``file_drop`` now; REST APIs and SQL databases share the same
small interface: land the bytes in the raw zone with a manifest, then yield string-typed Arrow
chunks with lineage columns). ``formats`` holds the readers of each source format.
"""
