"""Guidance: classifier-free guidance, one guided step, its variants, label dropout and classifier guidance."""
