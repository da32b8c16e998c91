"""The core operators: bash, python (plain, branch, short-circuit) and empty."""
