"""The HTTP API's answers: problems, hostile input, the text grammar, the contract, health, logs."""
