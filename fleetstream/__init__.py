"""fleetstream's command line, settings and local stack: the glue around the other packages."""
