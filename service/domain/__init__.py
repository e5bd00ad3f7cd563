"""Pure domain rules, free of I/O."""
