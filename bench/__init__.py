"""Load benchmarks of custid and the baselines they compare against (`make bench`)."""
