"""What the service's tests, the benchmarks (`bench/`) and the client's tests share: backends
and service processes started on free ports, load, proxies, receivers, and one way to issue."""
