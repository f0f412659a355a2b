"""The pages of the time chapter (`playground.views.time` computes what they show)."""
