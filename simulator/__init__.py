"""The simulated parties: relay, insurers, providers, generator, payout engine, journal, PKI, serving."""
