"""The pages of the guidance chapter (`playground.views.guidance` computes what they show)."""
