"""Data: where prices, models and the prediction log live, and where prices come from."""
