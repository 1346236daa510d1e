"""The parts of benchmarks/http.py: the server, the load, the data and the checks."""
