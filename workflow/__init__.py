"""The domain: the only code that writes. Plain async functions, one transaction each."""
