"""End-to-end tests of the VM agent and the VM stream against the local stack."""
