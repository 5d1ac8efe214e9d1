"""Gaze: file formats (io), screen/viewport geometry, fixation detection. Torch-free, Qt-free."""
