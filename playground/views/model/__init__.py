"""Model: the served checkpoint's card."""
