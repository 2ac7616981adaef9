"""custid: a service that issues unique, structured business numbers."""
