"""Book support: what the chapters need beyond the library (proposition checks,
inline values, the quick/full sampling presets)."""
