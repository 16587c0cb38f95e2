"""asynctasq's benchmark suite. Figures go to docs/benchmarks.md with the command
that produced them; nothing here is a test."""
