"""The lab: real systemd nodes (systemd-nspawn) on this machine, for the cluster tests."""
