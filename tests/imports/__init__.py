"""Importing legacy numbers: the file reader, the admin API and `custid import`."""
