"""Domain actions and checks in business words. Steps call only this layer."""
