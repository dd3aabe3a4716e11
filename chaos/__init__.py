"""The fault harness (`make chaos`): a private stack, a load of known programs, one fault at a time."""
