"""Time: how DiT is told the step t (the sinusoid, the MLP after it, and the adaLN-Zero modulation it drives)."""
