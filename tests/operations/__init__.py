"""Operating custid: metrics, deployment files, forecasts, exports, checks, migrations, the lock."""
