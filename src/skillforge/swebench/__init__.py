"""SWE-bench-format rows in and out."""
