"""Lightning callbacks, one module per kind of entry in conf/callbacks/: resuming (resume), what a
person follows (progress), epochs.csv (history), GPU settings of the network (gpu), and the
backbone's freeze schedule (finetune)."""
