"""First-run set-up: the .env file and the service unit."""
