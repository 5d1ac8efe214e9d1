"""Drawing findings on the image: ellipse, box, polygon, point; undo/redo; links to report sentences."""
