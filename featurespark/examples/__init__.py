"""Example data generators for the driver / customer domain."""
