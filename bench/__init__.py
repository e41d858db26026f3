"""Side-by-side benchmarks of learnloop against peer systems."""
