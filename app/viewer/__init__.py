"""The radiograph viewer: pyqtgraph image view, overlays, viewport state."""
