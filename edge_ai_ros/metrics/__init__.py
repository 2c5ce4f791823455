"""Accuracy metrics (numpy only): mAP@IoU, IoU, matching."""
