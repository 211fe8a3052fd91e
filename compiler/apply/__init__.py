"""Converge a server to the spec: read its state, plan the steps, execute them."""
