"""Video in, frames out: decoders, probes and image folders."""
