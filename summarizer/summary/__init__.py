"""Embeddings in, a few frames out: KMeans summary, dedup buffers, gates, sampling."""
