"""Inside: the forward pass opened up, and counterfactuals that show when and where the class acts."""
