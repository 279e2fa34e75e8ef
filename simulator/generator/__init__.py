"""The synthetic scenario generator: patients, policies, visits and their documents, consistent by construction."""
