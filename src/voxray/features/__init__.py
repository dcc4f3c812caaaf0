"""Features of a clip or film: the on-device front ends a model runs first (`model.frontend`: log-mel,
waveform and X-ray front ends, augmentation), and the CPU clip features of the baseline and EDA
(hand-crafted, Resemblyzer). Module paths are stored in checkpoints: keep them."""
