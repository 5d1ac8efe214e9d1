"""The synthetic ground-truth cohort: radiographs rendered from a real chest CT with injected findings.

``ct`` loads the CT and its TotalSegmentator labels once per process, ``lesions`` injects findings at
anatomically valid places, ``case`` samples and renders one study with its ground truth (via
``ml.cohort.render``), ``reports`` writes chest X-ray reports, ``readers`` simulates radiologists'
gaze, ``writer`` writes the files, ``build`` runs the job in REFLACX's layout, ``load`` reads it back,
``contact_sheet`` draws an overview and ``default_case`` makes the app's built-in case.
Torch-free: numpy, scipy, nibabel, pydicom and Pillow only.
"""
