"""Verifiers: each artifact kind's checks. ``checks`` holds the in-process ones of the text
kinds and ``kubernetes`` those of the manifests and chart values (cheap enough for a pre-commit
hook); ``external`` runs the real consumers (shellcheck, systemd-analyze, systemd-sysusers and
-tmpfiles, ``bao policy fmt``, kubectl). Which kind gets which is ``kinds.KINDS``.
"""
