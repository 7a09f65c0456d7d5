"""Domain logic of istio-source-ip: facts about the outside world, typed config, the plan.

Nothing in this package registers a Pulumi resource; `components/` does that.
"""
