"""The runtime: commands run against storage, one command one transaction."""
