"""The compression toolchain (docs/architecture.md §1): coarse-grained pruning
(:mod:`.prune`), local quantization (:mod:`.quantize`), Huffman coding
(:mod:`.huffman`), the irregularity measure (:mod:`.irregularity`), and the
pipeline with its report beside the Deep Compression baseline (:mod:`.pipeline`,
the command ``python -m golden.compress``)."""
