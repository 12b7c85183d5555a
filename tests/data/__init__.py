"""Test data and generators of test data (libvirt test-driver nodes)."""
