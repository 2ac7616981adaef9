"""What the project says of itself is true: the README, its examples, /docs, OpenAPI."""
