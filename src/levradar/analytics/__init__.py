"""Analytics on the store: normalisation, regimes, signals (grows with the signal-engine issue)."""
