"""A collection's embeddings in, a 2-D latent map out (pure fit/transform code; the store-backed
runner is `summarizer.flow.map_collection`).

settings (LatentSettings) -> pca (exact, streamed) -> autoencoder (Keras, public API; backend
chosen in `backend`) with triplets (consecutive frames) -> stretch -> mapper (`LatentMapper`:
fit / transform / save / load); collection (`LatentMap`, rows in the caller's order);
trajectories (paths of videos on the map, similar clips, the map picture).
"""
