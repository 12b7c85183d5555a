"""Unit tests of the VM agent."""
