"""The `custid` command: serve, keys, the database it names, start-up failures."""
