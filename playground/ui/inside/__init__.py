"""The pages of the inside chapter (`playground.views.inside` computes what they show)."""
