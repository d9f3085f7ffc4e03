"""Training code for livebg's portrait segmentation model (needs the ``train`` extra)."""
