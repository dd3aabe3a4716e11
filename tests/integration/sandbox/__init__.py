"""Sandbox tests with real bubblewrap, cgroups and seccomp."""
