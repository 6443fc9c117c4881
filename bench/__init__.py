"""Load and latency benchmarks. ``python -m bench.load --calls 100`` runs N simultaneous simulated calls
against one daphne process with zero-latency fake providers and reports what the server adds."""
