"""The Kubernetes side: applications built as data, then laid out for a GitOps flavour."""
