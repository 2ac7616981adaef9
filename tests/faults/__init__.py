"""Backends failing under load: outages, failovers, Redis topologies."""
