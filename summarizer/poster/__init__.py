"""A latent map in, one printable image out: layout and render."""
