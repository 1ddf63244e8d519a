"""Frames' embeddings in, seams and segments out: detectors, threshold, surveyor, refine."""
