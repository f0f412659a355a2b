"""The model chapter's page (`playground.views.model` computes what it shows)."""
