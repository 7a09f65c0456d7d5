"""Pulumi policy pack for source-IP correctness; validators in `policy.validators`."""
