"""Storage: the path scheme of the reference registry (layout) over pluggable drivers."""
