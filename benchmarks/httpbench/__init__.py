"""The parts of benchmarks/http_hot_path.py: the server, the load, the data and the checks."""
