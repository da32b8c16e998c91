"""miniflow's benchmarks: reproducible workloads, timed over several repetitions.

Run ``python -m benchmarks`` from the repository root (see README.md here). A workload
is registered with `benchmarks.harness.register`; it generates its input from size
parameters into a temporary folder and times commands of each `System` under test.
"""
