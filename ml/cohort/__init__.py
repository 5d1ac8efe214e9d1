"""The synthetic ground-truth cohort: radiographs rendered from a real chest CT with injected findings.

``ct`` loads the CT and its TotalSegmentator labels once per process, ``lesions`` injects findings at
anatomically valid places, ``reports`` writes chest X-ray reports, ``readers`` simulates radiologists'
gaze, ``build`` writes a REFLACX-shaped cohort and ``default_case`` the app's built-in case.
Torch-free: numpy, scipy and nibabel only.
"""
