"""A collection's embeddings in, a 2-D latent map out: PCA, autoencoder, stretch, trajectories."""
