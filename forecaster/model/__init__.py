"""The model: the NumPy LSTM and its numerics, the volatility baseline, the pool's data, training, calibration,
the guards on what is trusted, and a trained model as it is served."""
