"""Import an ingress-nginx install (its controller Service and ConfigMap, and its Ingresses) into a stack file
that keeps the client IP through an Istio gateway: `python -m tools.import_nginx --help`,
docs/migrate-from-ingress-nginx.md.

The package by job: `reader` (kubectl's YAML), `facts` (ingress-nginx facts with their source), `convert`
(objects -> stack keys and findings), `cli` (the stack file, its check, the review of its first `up`)."""
