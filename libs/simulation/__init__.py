"""The offline world: what the simulated carrier and the simulated voices agree on."""
